"""`make demo`'s console: a line per step from Dagster's log, which goes whole to a file."""

from __future__ import annotations

from tributary_demo.run import step_lines

RUN = "2026-12-02 12:01:13 +0000 - dagster - DEBUG - __ASSET_JOB - a5299fc4 - 14480 - "
DAGSTER_LOG = [
    RUN + 'raw__erp__customers - STEP_START - Started execution of step "raw__erp__customers".\n',
    RUN + "raw__erp__customers - ASSET_MATERIALIZATION - Materialized value raw erp customers.\n",
    RUN + 'raw__erp__customers - STEP_SUCCESS - Finished execution of step "raw__erp__customers" '
    "in 2.19s.\n",
    RUN + "dbt_models - ASSET_MATERIALIZATION - Materialized value staging stg_erp__customers.\n",
    RUN + "dbt_models - ASSET_MATERIALIZATION - Materialized value marts dim_customer.\n",
    RUN + 'dbt_models - STEP_SUCCESS - Finished execution of step "dbt_models" in 1m29s.\n',
    RUN + 'export__fct_sales_daily - STEP_FAILURE - Execution of step "export__fct_sales_daily" '
    "failed.\n",
    "/site-packages/dagster/x.py:100: BetaWarning: Parameter `include_sources` is in beta\n",
]


def test_one_line_per_step_and_per_asset_of_a_multi_asset_step() -> None:
    logged: list[str] = []
    shown = list(step_lines(DAGSTER_LOG, logged.append))
    assert logged == DAGSTER_LOG  # the file gets everything, warnings included
    assert [line.split() for line in shown] == [
        ["ok", "raw__erp__customers", "2.19s"],
        ["built", "staging/stg_erp__customers"],
        ["built", "marts/dim_customer"],
        ["ok", "dbt_models", "1m29s"],
        ["FAILED", "export__fct_sales_daily"],
    ]
