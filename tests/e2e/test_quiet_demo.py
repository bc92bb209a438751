"""`make demo`'s steps, twice, as a newcomer runs them on a fresh clone (the `demo_runs`
fixture: the manifest prepared by `make manifest`, then `python -m tributary_demo run`). The
console stays short and quiet, Dagster's log goes whole to a file, and dbt reuses the prepared
parse in every run."""

from __future__ import annotations

import duckdb

from ..conftest import DemoRuns

MOST_LINES = 60


def test_the_demo_prints_a_page_and_logs_the_rest(demo_runs: DemoRuns) -> None:
    assert len(demo_runs.printed) == len(demo_runs.logged) == 2
    runs = zip(demo_runs.printed, demo_runs.logged, strict=True)
    for attempt, (shown, log) in enumerate(runs, start=1):
        lines = shown.splitlines()
        assert len(lines) <= MOST_LINES, shown
        assert not [line for line in lines if "Warning" in line or "DEBUG" in line], shown
        assert "  ok      dbt_models" in shown and "FAILED" not in shown
        assert "RUN_SUCCESS" in log  # the whole log is in the file...
        assert log.count("\n") > 3 * len(lines)  # ...which says much more
        # dbt reuses the parse `make manifest` prepared, in the first run as in the second
        assert "Unable to do partial parsing" not in log, f"run {attempt}"

    # nothing the demo builds is left unexplained: the run log has the demo's runs
    with duckdb.connect(str(demo_runs.state / "warehouse.duckdb"), read_only=True) as con:
        statuses = con.execute("select distinct status from marts.ops_load_status").fetchall()
    assert statuses == [("SUCCESS",)]
