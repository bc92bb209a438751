"""Shared fixtures: an isolated state dir per test, and the demo sources in it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from tributary.config.loader import PROJECT_ROOT, ProjectConfig, load_project
from tributary.sources.base import Extract
from tributary_demo import generate_demo_sources
from tributary_demo.salesforce import SalesforceApi

from .salesforce_fake import FIXTURES, FakeSalesforce, self_signed_certificate

CONFIG_DIR = PROJECT_ROOT / "assets_config"
# Unset: no test reaches a real org by accident (the demo's sources resource replays its own).
SALESFORCE_ENV = ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN")


# A test's folder says what it needs, so no test can forget its marker: `-m "not integration
# and not e2e and not browser"` (make test-unit) selects exactly the tests that need no server,
# no browser and no Dagster or dbt process of their own.
FOLDER_MARKERS = {"integration": "integration", "e2e": "e2e", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests_dir).parts[0]
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])


# `make test` runs the tests on three workers (pytest-xdist, `-n 3`), each test its own unit of
# work except in these modules, whose tests share what a module- or session-scoped fixture
# built (a dbt parse, a Dagster webserver, the demo's runs): one worker runs the whole group, so
# it is built once. By path, because pytest 9.2 drops xdist_group marks (pytest-xdist#1386).
SHARED_FIXTURE_GROUPS = {
    "tests/browser/test_ui.py": "demo_runs",
    "tests/e2e/test_quiet_demo.py": "demo_runs",
    "tests/e2e/test_demo_pipeline.py": "demo_pipeline",
    "tests/integration/test_kill_cli.py": "kill_cli",
    "tests/unit/test_dbt_asset_specs.py": "dbt_asset_specs",
    "tests/unit/test_definitions.py": "definitions",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    if config.getvalue("dist") != "load":
        return None

    class SharedFixtureScheduling(LoadScopeScheduling):
        """`--dist load` (a test per unit), but a group above is one unit; groups go first."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_FIXTURE_GROUPS.get(module, nodeid)

    return SharedFixtureScheduling(config, log)


@pytest.fixture(autouse=True)
def no_dagster_instance_left_open() -> Iterator[None]:
    """A Dagster instance entered by a test (a sensor or schedule context opening one from its
    ref enters it) and never exited stays the process's current state storage after it is
    garbage collected, and a later test's definitions then fail to load. Failing here names
    the test that left it open."""
    from dagster._core.storage.defs_state.base import DefsStateStorage

    before = DefsStateStorage.get()
    yield
    assert DefsStateStorage.get() is before, (
        "this test left a Dagster instance entered: use its sensor/schedule context as `with`"
    )


def require_service(name: str, available: bool) -> None:
    """Skip when a real server is missing; fail instead under TRIBUTARY_REQUIRE_SERVICES=1."""
    if available:
        return
    if os.environ.get("TRIBUTARY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (TRIBUTARY_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} is not reachable")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TRIBUTARY_STATE_DIR", str(state))
    for name in ("TRIBUTARY_ERP_URL", "TRIBUTARY_APP_URL", "TRIBUTARY_OPS_URL", *SALESFORCE_ENV):
        monkeypatch.delenv(name, raising=False)
    return state


@pytest.fixture
def demo_project(state_dir: Path) -> ProjectConfig:
    """The shipped assets_config, with its state (and demo sources) in a temporary dir."""
    generate_demo_sources(state_dir / "demo", customers=50, orders=300)
    return load_project(CONFIG_DIR)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped configuration that a test may break."""
    target = tmp_path / "assets_config"
    shutil.copytree(CONFIG_DIR, target)
    return target


@pytest.fixture(scope="session")
def fake_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def salesforce_fake(fake_certificate: tuple[Path, Path]) -> Iterator[FakeSalesforce]:
    """A fresh fake org (tests/fixtures/salesforce) served over HTTPS on 127.0.0.1."""
    api = SalesforceApi.from_fixtures(FIXTURES)
    with FakeSalesforce(api, fake_certificate).running() as fake:
        yield fake


def wait_for(what: str, probe, timeout: float, *, every: float = 0.5):
    """What `probe()` returns once it is truthy; the test fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME like `make dev`'s (deploy/dagster.local.yaml), its storage created
    before a daemon and its code server would both start on it (two processes creating
    fresh SQLite storage race on its migration stamp)."""
    import dagster as dg

    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.local.yaml", path / "dagster.yaml")
    dg.DagsterInstance.from_config(str(path)).dispose()
    return path


def materialize_at_once(selection: str, env: dict[str, str], *, runs: int = 2) -> None:
    """`runs` CLI materializations of `selection` started together, as a schedule tick and an
    operator start them; each must succeed."""
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "asset", "materialize", "--select", selection]
    started = [
        subprocess.Popen(
            [*command, "-m", "tributary.definitions"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(runs)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in started]
    assert [run.returncode for run in started] == [0] * runs, "\n".join(
        output[-3000:] for output in outputs
    )


@contextmanager
def background_process(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen]:
    """A long-running command (a Dagster daemon, `dagster dev`) in its own process group,
    stopped with everything it started when the block ends."""
    with log.open("w") as output:
        process = subprocess.Popen(
            list(args), env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


class BatchesReader:
    """A source whose read yields the given batches, then raises `fail` if given."""

    def __init__(self, batches: list[pa.RecordBatch], fail: Exception | None = None) -> None:
        self.batches, self.fail = batches, fail

    def read(self, table, *, since=None, batch_rows, where=None) -> Extract:
        def stream():
            yield from self.batches
            if self.fail is not None:
                raise self.fail

        return Extract(batches=pa.RecordBatchReader.from_batches(self.batches[0].schema, stream()))


def copy_dbt_project(target: Path) -> Path:
    """The project's dbt project copied to `target`, without what dbt wrote into it (target/,
    logs/): a test's manifest and models of its own go there, not into the checkout."""
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", target, ignore=shutil.ignore_patterns("target", "logs")
    )
    return target


@dataclass(frozen=True)
class DemoRuns:
    """`make demo` twice on a fresh clone: what each run printed and logged, and where."""

    env: dict[str, str]  # the runs' environment: DAGSTER_HOME, state and dbt project dirs
    state: Path
    printed: list[str]  # each run's console
    logged: list[str]  # each run's demo.log (Dagster's whole log)


def run_checked(args: Sequence[str], env: dict[str, str]) -> str:
    """A command run from the checkout, as make runs it; its stdout once it succeeded."""
    done = subprocess.run(
        list(args), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    """`make demo`'s steps, twice, as a newcomer runs them on a fresh clone: the manifest is
    prepared (`make manifest`, into a copy of the dbt project), then `python -m tributary_demo
    run`, on a DAGSTER_HOME holding only deploy/dagster.local.yaml as make copies it.

    One session's: the quiet-demo test reads both runs, the browser test serves what they
    built with `dg dev` (`make dev` after `make demo`). A run of the demo costs most of a
    minute here."""
    root = tmp_path_factory.mktemp("demo_runs")
    dbt_project = copy_dbt_project(root / "dbt_project")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    state = root / "state"
    env = {
        **os.environ,
        "TRIBUTARY_STATE_DIR": str(state),
        "TRIBUTARY_DBT_PROJECT_DIR": str(dbt_project),
        "DAGSTER_HOME": str(home),
        "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),  # dg's check, as make sets it
    }
    env.pop("TRIBUTARY_CONFIG_DIR", None)  # the shipped assets_config, as make uses it
    run_checked([sys.executable, "-m", "tributary.defs.prepare_dbt"], env)  # make manifest
    printed, logged = [], []
    for _ in range(2):
        printed.append(run_checked([sys.executable, "-m", "tributary_demo", "run"], env))
        logged.append((state / "demo.log").read_text())
    return DemoRuns(env=env, state=state, printed=printed, logged=logged)
