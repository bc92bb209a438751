"""Two runs of a user's incremental dbt model at once, as a schedule tick and an operator's
materialization start them: Dagster queues the second run's dbt step behind the first (the
`dbt` pool), so the second sees the rows the first added.

Before, both ran side by side on PostgreSQL. An append-only incremental model (no unique_key,
as event and fact tables are written) read the same new source rows in each run, above the
highest key either saw, and each run inserted them: every new row twice, and nothing failed."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import copy_dbt_project, local_dagster_home, materialize_at_once, run_checked
from tributary.config.loader import CONFIG_DIR_ENV, STATE_DIR_ENV
from tributary.warehouse.postgres.warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

SLEEP_SECONDS = 4  # each run's read of the new rows takes this long: the two runs meet
MODEL = f"""
{{{{ config(materialized='incremental') }}}}
select n, n * 10 as amount
from public.numbers, (select pg_sleep({SLEEP_SECONDS})) as slow
{{% if is_incremental() %}}
where n > (select coalesce(max(n), 0) from {{{{ this }}}})
{{% endif %}}
"""


def write_project(tmp_path: Path, postgres: str) -> dict[str, str]:
    """A configuration on PostgreSQL and a copy of the dbt project holding one incremental
    model of a user's own, `fct_numbers`; the environment that runs them."""
    config = tmp_path / "assets_config"
    config.mkdir()
    platform = {"warehouse": {"target": "postgres", "connection": {"url": postgres}}}
    (config / "platform.yaml").write_text(yaml.safe_dump(platform))
    dbt_project = copy_dbt_project(tmp_path / "dbt_project")
    (dbt_project / "models" / "marts" / "fct_numbers.sql").write_text(MODEL)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(local_dagster_home(tmp_path / "dagster_home")),
        CONFIG_DIR_ENV: str(config),
        STATE_DIR_ENV: str(tmp_path / "state"),
        "TRIBUTARY_DBT_PROJECT_DIR": str(dbt_project),
    }
    run_checked([sys.executable, "-m", "tributary.defs.prepare_dbt"], env)
    return env


def test_two_runs_of_an_incremental_model_add_its_new_rows_once(postgres, tmp_path) -> None:
    env = write_project(tmp_path, postgres)
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("create table public.numbers as select generate_series(1, 100) as n")
    materialize_at_once("marts/fct_numbers", env, runs=1)  # the model's table, 100 rows
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute("insert into public.numbers select generate_series(101, 250)")

    materialize_at_once("marts/fct_numbers", env)

    with psycopg.connect(postgres) as con:
        rows, keys, highest = con.execute(
            "select count(*), count(distinct n), max(n) from marts.fct_numbers"
        ).fetchone()
    assert (rows, keys, highest) == (250, 250, 250)


def test_a_second_build_waits_for_the_first_on_postgresql(postgres) -> None:
    """The warehouse's own guard, for when two pool claims at one instant both win (a SQLite
    Dagster instance takes no row lock on its slots): seen once in this suite under load, the
    test above counted 400 rows, every new one twice."""
    first_in, events = threading.Event(), []

    def build(name: str, hold: float) -> None:
        with PostgresWarehouse(postgres) as wh, wh.one_at_a_time("dbt"):
            events.append((name, "in"))
            first_in.set()
            time.sleep(hold)
            events.append((name, "out"))

    first = threading.Thread(target=build, args=("first", 0.5))
    first.start()
    first_in.wait(10)
    build("second", 0)
    first.join()
    assert events == [("first", "in"), ("first", "out"), ("second", "in"), ("second", "out")]
