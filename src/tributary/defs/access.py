"""The warehouse access asset: teams.yaml applied as roles (groups on Redshift) and GRANTs,
a thin layer over tributary.warehouse.access."""

from collections.abc import Mapping

import dagster as dg

from tributary.config.loader import ConfigError, ProjectConfig
from tributary.defs.automation import default_status
from tributary.defs.resources import WarehouseResource
from tributary.defs.transform import ModelRef
from tributary.warehouse import raw_schema
from tributary.warehouse.access import Relation, apply_access

ACCESS_KEY = dg.AssetKey(["tributary", "warehouse_access"])


def model_relations(refs: Mapping[str, ModelRef]) -> dict[str, Relation]:
    """Each dbt model's (and seed's, and snapshot's) (schema, name) in the warehouse."""
    return {name: (ref.schema, ref.name) for name, ref in refs.items()}


def export_relations(project: ProjectConfig, models: Mapping[str, Relation]) -> dict:
    return {
        export.name: [models[name] for name in export.upstream_models] for export in project.exports
    }


def validate_teams(project: ProjectConfig, models: Mapping[str, Relation]) -> None:
    """Every schema and export a team lists exists in this project."""
    schemas = {raw_schema(source.name) for source in project.sources}
    schemas |= {schema for schema, _ in models.values()}
    exports = {export.name for export in project.exports}
    for index, team in enumerate(project.teams.teams):
        for key, listed, known in (
            ("schemas", team.schemas, schemas),
            ("exports", team.exports, exports),
        ):
            for position, name in enumerate(listed):
                if name not in known:
                    expected = f"one of {', '.join(sorted(known))}" if known else "none here"
                    raise ConfigError(
                        f"teams.yaml: teams[{index}].{key}[{position}]: no {key[:-1]} named "
                        f"'{name}' in this project; expected {expected}"
                    )


def build_access_defs(project: ProjectConfig, refs: Mapping[str, ModelRef]) -> dg.Definitions:
    models = model_relations(refs)
    validate_teams(project, models)
    relations = export_relations(project, models)
    # The models behind the teams' exports: rebuilt by dbt as new tables, which carry no
    # table-level grant, so access is applied again after them.
    upstream = {export.name: export.upstream_models for export in project.exports}
    granted_models = sorted(
        {model for team in project.teams.teams for e in team.exports for model in upstream[e]}
    )

    @dg.asset(
        key=ACCESS_KEY,
        group_name="tributary",
        kinds={project.platform.warehouse.target},
        deps=[refs[name].asset_key for name in granted_models],
        description="Team roles and read grants from teams.yaml, applied idempotently: what "
        "the file no longer lists is revoked.",
        metadata={"teams": ", ".join(team.name for team in project.teams.teams) or "-"},
        # Applied again whenever those models are rebuilt (and once, when never applied), even
        # where a model's test failed: the rebuilt table is there, without its grants.
        automation_condition=dg.AutomationCondition.eager(),
    )
    def warehouse_access(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.open() as wh:
            plan = apply_access(wh, project.teams, relations)
        if plan is None:
            context.log.info(f"the {wh.kind} warehouse has no users: no grants to apply")
            return dg.MaterializeResult(metadata={"applied": False, "warehouse": wh.kind})
        if plan.missing_users:
            context.log.warning(
                "teams.yaml lists users the warehouse does not have (left out): "
                + ", ".join(plan.missing_users)
            )
        context.log.info(f"{len(plan.statements)} access statement(s) applied")
        return dg.MaterializeResult(
            metadata={
                "applied": True,
                "warehouse": wh.kind,
                "statements": len(plan.statements),
                "sql": dg.MetadataValue.md(
                    "```sql\n" + ";\n".join(plan.statements) + ";\n```"
                    if plan.statements
                    else "no change"
                ),
                "teams": dg.MetadataValue.json(plan.teams),
                "missing_users": ", ".join(plan.missing_users) or "-",
                "pending_relations": ", ".join(plan.pending) or "-",
                "dropped_roles": ", ".join(plan.dropped_roles) or "-",
            }
        )

    # Its own automation sensor, as each kind of asset has one (defs/automation.py).
    sensor = dg.AutomationConditionSensorDefinition(
        "automation_access",
        target=dg.AssetSelection.assets(ACCESS_KEY),
        default_status=default_status(project)[1],
    )
    return dg.Definitions(assets=[warehouse_access], sensors=[sensor])
