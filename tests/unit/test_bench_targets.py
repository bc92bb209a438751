"""How `make bench` reports issue 15's targets (bench/run.py, bench/measure.py): the verdicts,
and that a benchmark that fails or a baseline that cannot be measured is reported, not lost.
No timing here: the figures are made up."""

from __future__ import annotations

import sys
import types

import pytest

from bench import run as bench_run
from bench.measure import Result, Run, Target, in_rounds, paired_ratio, target_table


def test_a_target_passes_at_or_under_its_limit_and_misses_over_it() -> None:
    assert Target("1", "t", 1.3, 1.3).status == "PASS"
    assert Target("1", "t", 1.31, 1.3).status == "MISS"
    assert Target("3", "t", 301, 300, unit="MB").status == "MISS"


def test_a_figure_that_rounds_to_its_limit_shows_which_side_it_is_on() -> None:
    assert Target("5", "t", 1.3041, 1.3).row()[2:5] == ["1.304x", "≤ 1.30x", "**MISS**"]
    assert Target("5", "t", 1.2962, 1.3).row()[2] == "1.296x"
    assert Target("5", "t", 1.3, 1.3).row()[2] == "1.30x"
    assert Target("5", "t", 1.21, 1.3).row()[2] == "1.21x"


def test_an_unmeasured_target_is_a_miss_unknown_with_its_reason() -> None:
    target = Target("1", "faster than dlt", None, 1.0, note="not measured: no index")
    assert target.status == "MISS-unknown"
    assert "not measured: no index" in target_table([target])


def test_an_info_row_is_no_verdict() -> None:
    assert Target("4", "in process", 9.0, 1.5, info=True).status == "info"


def test_measurements_in_rounds_alternate_and_ratios_pair_runs_of_a_round(monkeypatch) -> None:
    """in_rounds runs one run of each measurement per round; paired_ratio divides runs of the
    same round, so a drift of the machine's speed between rounds cancels out."""
    monkeypatch.delenv("BENCH_REPEATS", raising=False)
    calls: list[str] = []
    slowness = iter([1.0, 1.0, 3.0, 3.0, 2.0, 2.0])  # the machine, round by round

    def measurement(case: str, work: float):
        def measure(repeats: int) -> Result:
            assert repeats == 1
            calls.append(case)
            seconds = work * next(slowness)
            return Result(case, case, [Run({"seconds": seconds}, 100.0, seconds)])

        return measure

    base, load = in_rounds([measurement("base", 1.0), measurement("load", 1.25)], repeats=3)

    assert calls == ["base", "load"] * 3
    assert [run.seconds for run in load.runs] == [1.25, 3.75, 2.5]
    assert paired_ratio(load, base) == pytest.approx(1.25)
    assert paired_ratio(base, load, lambda run: run.process_seconds) == pytest.approx(0.8)


@pytest.fixture
def fake_benchmarks(tmp_path, monkeypatch):
    """Two fake benchmark modules, one that fails, and a README of our own."""
    readme = tmp_path / "README.md"
    readme.write_text("# B\n\n<!-- bench:targets:start -->\nold\n<!-- bench:targets:end -->\n")
    good = types.ModuleType("fake_good")
    good.run = lambda: ("good section", [Target("2", "fast", 1.1, 1.2)])
    bad = types.ModuleType("fake_bad")

    def fail():
        raise SystemExit("the server is down")

    bad.run = fail
    monkeypatch.setitem(sys.modules, "fake_good", good)
    monkeypatch.setitem(sys.modules, "fake_bad", bad)
    monkeypatch.setattr(bench_run, "README", readme)
    monkeypatch.setattr(bench_run, "BENCHMARKS", {"good": "fake_good", "bad": "fake_bad"})
    return readme


def test_a_whole_run_writes_the_targets_block_and_goes_on_past_a_failure(
    fake_benchmarks, capsys
) -> None:
    assert bench_run.main([]) == 1  # a benchmark failed
    text = fake_benchmarks.read_text()
    block = text.split("<!-- bench:targets:start -->")[1].split("<!-- bench:targets:end -->")[0]
    assert "old" not in block
    assert "| 2 | fast | 1.10x | ≤ 1.20x | **PASS** |" in block
    assert "the bad benchmark" in block and "the server is down" in block
    assert "`make bench` runs in under 25 minutes" in block  # target 6: the run's duration
    assert "load average" in block
    assert "good section" in text
    assert "PASS" in capsys.readouterr().out


def test_a_smoke_run_leaves_the_readme_alone(fake_benchmarks, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_SCALE", "1")  # main sets it: restored after the test
    before = fake_benchmarks.read_text()
    bench_run.main(["--scale", "0.01", "good"])
    assert fake_benchmarks.read_text() == before
