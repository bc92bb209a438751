"""Asset checks on the raw tables, a thin layer over tributary.reconcile.

- `reconciliation` and `unique_primary_key` run inside the raw asset, right after its load,
  and are BLOCKING: when one fails, the step fails after recording the materialization, so
  the dbt models and exports downstream do not build on the bad load.
- `schema_drift` (severity WARN, not blocking) runs inside the raw asset too: it fails while
  the raw table holds columns the source no longer sends (dropped or renamed there).
- `freshness` is a separate check (severity WARN, not blocking) that reads the warehouse's
  load log: it runs after each load, and on its own whenever it is executed (UI, schedule).
  One subsettable definition per source holds its tables' freshness checks.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from tributary.config.loader import ProjectConfig
from tributary.config.models import SourceConfig, TableConfig
from tributary.defs.resources import WarehouseResource
from tributary.defs.sources import SourcesResource
from tributary.defs.tenants import current_tenants
from tributary.ingest import TableLoad, load_target
from tributary.reconcile import (
    CheckOutcome,
    duplicate_keys,
    freshness,
    reconcile,
    schema_drift,
)
from tributary.slices import partition_keys
from tributary.sources import SourceReader
from tributary.warehouse import Warehouse

RECONCILIATION = "reconciliation"
UNIQUE_KEY = "unique_primary_key"
SCHEMA_DRIFT = "schema_drift"
FRESHNESS = "freshness"
DEFAULT_MAX_LOAD_AGE = timedelta(days=1)


def raw_check_specs(key: dg.AssetKey, table: TableConfig) -> list[dg.AssetCheckSpec]:
    """The blocking checks a raw asset evaluates itself after each load."""
    specs = []
    if table.checks.reconcile:
        compared = "rows" + (" and the highest cursor value" if table.mode == "incremental" else "")
        if table.checks.checksum:
            compared += f", and a checksum of {', '.join(table.checks.checksum)}"
        specs.append(
            dg.AssetCheckSpec(
                RECONCILIATION,
                asset=key,
                blocking=True,
                description=f"The load matches its source: {compared} in the loaded window, "
                "reaching back to where an earlier failure was found until it is right.",
            )
        )
    if table.primary_key:
        specs.append(
            dg.AssetCheckSpec(
                UNIQUE_KEY,
                asset=key,
                blocking=True,
                description=f"No two rows share the primary key ({', '.join(table.primary_key)}).",
            )
        )
    specs.append(
        dg.AssetCheckSpec(
            SCHEMA_DRIFT,
            asset=key,
            blocking=False,
            description="Every column of the raw table still comes from the source (a column "
            "dropped or renamed there stays in the table, NULL in the rows merged meanwhile; "
            "when it comes back, those rows are read again).",
        )
    )
    return specs


def load_check_results(
    table: TableConfig,
    load: TableLoad,
    *,
    reader: SourceReader | None,
    warehouse: Warehouse,
) -> list[dg.AssetCheckResult]:
    """Evaluate the blocking checks of one load (of the table, or its slice: load.target).
    A check that cannot run fails (and blocks). `reader` None: an inbox load, compared with
    its landed files."""
    # The raw table's own spelling of the key and cursor (an upper-case ID arrives as id), its
    # keys matched as the load matched them.
    target = load.target.spelled_as([n for n, _ in load.outcome.columns])
    results = []
    if table.checks.reconcile:
        results.append(
            _result(
                RECONCILIATION,
                lambda: reconcile(table, load, source=reader, warehouse=warehouse, target=target),
            )
        )
    if table.primary_key:
        results.append(_result(UNIQUE_KEY, lambda: duplicate_keys(warehouse, target)))
    results.append(
        _result(
            SCHEMA_DRIFT,
            lambda: schema_drift(load.outcome),
            severity=dg.AssetCheckSeverity.WARN,
        )
    )
    return results


def max_load_age(source: SourceConfig, table: TableConfig) -> timedelta:
    """The freshness the table's FreshnessPolicy has, or a day where none is configured."""
    return table.freshness or source.freshness or DEFAULT_MAX_LOAD_AGE


def freshness_description(source: SourceConfig, table: TableConfig) -> str:
    description = f"The last load is at most {max_load_age(source, table)} old"
    if table.checks.max_data_age is not None:
        whose = " of each active tenant" if table.tenant_column else ""
        description += f", and the newest {table.cursor}{whose} at most {table.checks.max_data_age}"
    return description + "."


# As `@dg.multi_asset_check(can_subset=True)` makes them: each freshness check is an optional
# output of its source's op (it runs only when selected), and each checked table a Nothing
# input (so that a run which loads the table checks it after the load). Made once: each makes
# Dagster resolve a type.
_FRESHNESS_OUT = dg.Out(dg.Any, is_required=False)
_CHECKED_TABLE_IN = dg.In(dg.Nothing)


def build_freshness_checks(
    project: ProjectConfig, source: SourceConfig, keys: dict[str, dg.AssetKey]
) -> dg.AssetChecksDefinition:
    """The freshness check of each of the source's tables (`keys`: table name -> asset key),
    as one subsettable definition: each table's check is selected, run and reported on its
    own, and the graph holds one check definition per source instead of one per table (a
    decorator per table was a third of the time to load 1000 tables).

    What `@dg.multi_asset_check(name=..., specs=..., can_subset=True)` builds
    (tests/unit/test_definitions.py compares the two), put together from its parts: the
    decorator inspects the function and makes an output for each check anew, which made the
    checks of 1000 tables take 0.2 ms each."""
    tables = {keys[table.name]: table for table in source.tables}
    specs = [
        dg.AssetCheckSpec(
            FRESHNESS,
            asset=key,
            description=freshness_description(source, table),
            blocking=False,
        )
        for key, table in tables.items()
    ]
    specs_by_output = {spec.get_python_identifier(): spec for spec in specs}
    keys_by_input = {key.to_python_identifier(): key for key in tables}
    # Only the active tenants' loads are expected to stay fresh.
    scoped = any(table.tenant_column for table in tables.values())

    def freshness_checks(context: dg.AssetCheckExecutionContext):
        warehouse: WarehouseResource = context.resources.warehouse
        sources: SourcesResource = context.resources.sources
        tenants = current_tenants(project, sources) if scoped else []
        with warehouse.open() as wh:
            for check_key in sorted(context.selected_asset_check_keys, key=str):
                table = tables[check_key.asset_key]
                yield _result(
                    FRESHNESS,
                    lambda table=table: freshness(
                        wh,
                        load_target(source, table),
                        max_load_age=max_load_age(source, table),
                        max_data_age=table.checks.max_data_age,
                        cursor=table.cursor,
                        scopes=partition_keys(table, tenants) or [""],
                        now=datetime.now(UTC),
                        data_timezone=source.data_timezone,
                    ),
                    severity=dg.AssetCheckSeverity.WARN,
                    asset_key=check_key.asset_key,
                )

    op = dg.OpDefinition(
        compute_fn=lambda context, _inputs: freshness_checks(context),
        name=f"freshness__{source.name}",
        ins={name: _CHECKED_TABLE_IN for name in keys_by_input},
        outs={name: _FRESHNESS_OUT for name in specs_by_output},
        required_resource_keys={"warehouse", "sources"},
    )
    return dg.AssetChecksDefinition.create(
        keys_by_input_name=keys_by_input,
        node_def=op,
        check_specs_by_output_name=specs_by_output,
        can_subset=True,
    )


def _result(
    name: str,
    evaluate,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    asset_key: dg.AssetKey | None = None,
) -> dg.AssetCheckResult:
    try:
        outcome: CheckOutcome = evaluate()
    except Exception as exc:  # a check that cannot run must not pass
        outcome = CheckOutcome(False, f"the check could not run: {type(exc).__name__}: {exc}")
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata=outcome.metadata,
    )
