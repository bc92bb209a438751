"""Loads of more than one DuckDB row group (122,880 rows) from MariaDB into the embedded
warehouse, through `dagster asset materialize` as a user runs them: the blocking checks run
in the load's own warehouse session, and they must see every row the load committed.

DuckDB 2.0.0 hid such a load from that session (see DuckDBWarehouse.create_table_like):
reconciliation then reported "the warehouse 0 (200000 missing)"."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from tests.conftest import local_dagster_home
from tributary.config.loader import CONFIG_DIR_ENV, PROJECT_ROOT, STATE_DIR_ENV

from .conftest import run_sql

pytestmark = pytest.mark.integration

DAGSTER = Path(sys.executable).parent / "dagster"
ROWS = 200_000
TABLES = {
    # A full load's count alone is answered from DuckDB's table cardinality: the checksum
    # makes its reconciliation scan the rows.
    "orders_full": {"mode": "full", "checks": {"checksum": ["id", "amount"]}},
    # An incremental load's window is a predicate and a highest cursor value: a scan.
    "orders_incremental": {"mode": "incremental", "cursor": "updated_at"},
}


def project(tmp_path: Path, url) -> Path:
    """A configuration with one MariaDB source of two tables read from `orders`."""
    config = tmp_path / "assets_config"
    (config / "sources").mkdir(parents=True)
    platform = {"warehouse": {"target": "duckdb", "path": "warehouse.duckdb"}, "batch_rows": 50_000}
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    tables = [
        {"name": name, "object": "orders", "primary_key": ["id"], **settings}
        for name, settings in TABLES.items()
    ]
    source = {
        "name": "shop",
        "kind": "mysql",
        "connection": {"url": url.render_as_string()},
        "tables": tables,
    }
    (config / "sources" / "shop.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    return config


def check_evaluations(home: Path) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(table, check name) -> the evaluation, from the single run of the instance."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [event.dagster_event.event_specific_data for event in events]
    return {(e.asset_key.path[-1], e.check_name): e for e in evaluations}


def test_the_cli_load_of_two_row_groups_passes_reconciliation(mariadb, tmp_path) -> None:
    url, con = mariadb
    run_sql(
        con,
        "create table orders (id int primary key, amount decimal(12, 2), updated_at datetime(6))",
        # MariaDB's SEQUENCE engine: the rows made server-side in well under a second.
        "insert into orders select seq, seq / 100, '2024-01-01' + interval seq second "
        f"from seq_1_to_{ROWS}",
    )
    home = local_dagster_home(tmp_path / "dagster_home")
    state = tmp_path / "state"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        CONFIG_DIR_ENV: str(project(tmp_path, url)),
        STATE_DIR_ENV: str(state),
    }
    selection = ",".join(f"raw/shop/{name}" for name in TABLES)
    command = [str(DAGSTER), "asset", "materialize", "--select", selection]
    finished = subprocess.run(
        [*command, "-m", "tributary.definitions"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    evaluations = check_evaluations(home)
    for name in TABLES:
        reconciliation = evaluations[(name, "reconciliation")]
        assert reconciliation.passed, reconciliation.description
        assert reconciliation.metadata["source_rows"].value == ROWS
        assert reconciliation.metadata["warehouse_rows"].value == ROWS
        assert evaluations[(name, "unique_primary_key")].passed
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as warehouse:
        for name in TABLES:
            counted = warehouse.execute(
                f"select count(*), count(distinct id), max(id), sum(amount) from raw_shop.{name}"
            ).fetchall()
            assert counted == [(ROWS, ROWS, ROWS, Decimal(sum(range(1, ROWS + 1))) / 100)]
