"""How the export gate words a refusal where an incremental model is involved: a plain build
adds only the rows past the newest the model holds, so what a build on rejected rows lacked
comes back only with a full refresh, and the refusal gives that run's config."""

from __future__ import annotations

from datetime import UTC, datetime

from tributary.exports.gate import FailedCheck, StaleBuild, Upstream, refusal

AT = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
DBT_FULL_REFRESH = '{"ops": {"dbt_models": {"config": {"full_refresh": true}}}}'
LOAD_FULL_REFRESH = '{"ops": {"raw__erp__customers": {"config": {"full_refresh": true}}}}'
REMEMBERED = FailedCheck(
    asset="raw/erp/customers",
    check="reconciliation",
    run_id="load-run",
    at=AT,
    description="1 row missing; remembered until a full_refresh load finds the rows right",
    load_op="raw__erp__customers",
    rebuild=("marts/customers_inc", "marts/dim_customer"),
    rebuild_whole=("marts/customers_inc",),
    dbt_op="dbt_models",
)


def test_a_remembered_failure_names_the_full_refresh_of_the_incremental_models_after_it() -> None:
    lead = REMEMBERED.full_refresh()
    assert lead is not None and lead.index(LOAD_FULL_REFRESH) < lead.index("marts/dim_customer")
    assert f"marts/customers_inc, incremental, with the run config {DBT_FULL_REFRESH}" in lead
    assert lead.count("marts/customers_inc") == 1


def test_an_incremental_build_on_rejected_rows_leads_with_its_full_refresh_once() -> None:
    failed_then = (REMEMBERED,)
    builds = [
        StaleBuild("marts/customers_inc", run, AT, failed_then, dbt_op="dbt_models")
        for run in ("first-build", "second-build")
    ]
    table = StaleBuild("marts/dim_customer", "table-build", AT, failed_then)
    why = refusal("customers_inc", "export__customers_inc", Upstream([], [], [*builds, table]))
    assert why is not None
    assert why.count(f"build it with the run config {DBT_FULL_REFRESH}") == 1
    assert why.index(DBT_FULL_REFRESH) < why.index("Fix the cause")
    assert "first-build" in why and "second-build" in why
    # A table model is rebuilt whole by a plain build: today's advice.
    assert "marts/dim_customer was built by run table-build" in why
    assert "rebuild it (with the models it feeds) once it passes" in why


def test_a_held_build_survives_its_record() -> None:
    build = StaleBuild("marts/customers_inc", "first-build", AT, (REMEMBERED,))
    again = StaleBuild.from_record(build.to_record())
    assert again.describe() == build.describe()
    assert again.failed_then[0].at == AT
