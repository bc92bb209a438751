"""dbt models as assets; dbt tests as asset checks; dbt sources mapped onto the raw assets."""

import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import dbt.version
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import DbtProjectPreparer
from dagster_shared.record import replace
from packaging.version import Version
from pydantic import Field

from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.defs.automation import FOLLOWS_LOADS, SEED_CHANGES
from tributary.defs.export_gate import (
    FULL_REFRESH,
    HELD_BUILDS,
    INCREMENTAL,
    builds_held_by,
    failed_above,
)
from tributary.defs.ingest import raw_asset_key
from tributary.defs.resources import WarehouseResource
from tributary.warehouse import Warehouse, quote_ident

DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


class TributaryDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs it adds to every run (dagster-dbt 0.29.27, where
    both methods overridden here are private: re-check them when upgrading it).

    It learns the dbt version by running `dbt --version` in a subprocess (about 2.7 s on 2 cores)
    once per resource instance, i.e. per run: the venv's dbt is the dbt-core imported here, so
    its version is known in the process. And before each `dbt build` it sets up a dbt adapter in
    the Dagster process (about 1.8 s), which serves only `fetch_row_counts()` and
    `fetch_column_metadata()` on the event stream; Tributary calls neither (with no adapter they
    would add nothing: use `DbtCliResource` to use them). dbt itself still runs as a subprocess,
    its events still stream into Dagster, and its tests still become asset checks.
    """

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable) == DBT_EXECUTABLE:
            return Version(dbt.version.__version__)
        return super()._cli_version  # another dbt (e.g. Fusion): ask it

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class TributaryTranslator(DagsterDbtTranslator):
    """dbt sources become the raw table assets; models are grouped by their folder.

    A model's description is its dbt description alone: dagster-dbt appends the model's SQL
    under a "#### Raw SQL" heading, which the catalog list shows as plain text, markdown and all.
    The SQL goes in the metadata instead, as markdown the asset page renders. (dagster-dbt's
    code references would link the .sql file, but warn as a beta feature on every load.)"""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source."):
            props = manifest["sources"][unique_id]
            if props.get("meta", {}).get("dagster", {}).get("asset_key"):
                return spec  # Tributary's own tables name their asset explicitly
            return spec.replace_attributes(key=raw_asset_key(props["source_name"], props["name"]))
        props = manifest["nodes"][unique_id]
        # fqn: [project, folder, ..., model]; the first folder (staging, marts) is the group.
        group = props["fqn"][1] if len(props["fqn"]) > 2 else "transform"
        description = (
            props.get("description") or ""
        ).strip() or f"dbt {props['resource_type']} {props['name']}"
        automation = SEED_CHANGES if props["resource_type"] == "seed" else FOLLOWS_LOADS
        return spec.replace_attributes(
            group_name=group, automation_condition=automation, description=description
        ).merge_attributes(metadata={"raw_sql": dg.MetadataValue.md(sql_block(props))})


def sql_block(props: Mapping[str, Any]) -> str:
    return f"```sql\n{props.get('raw_code', '').strip()}\n```"


def dbt_project(project: ProjectConfig | None = None, *, prepare_if_dev: bool = True) -> DbtProject:
    """The project's dbt project (`ProjectConfig.dbt_project_dir`; by default that of the
    configuration `load_project()` finds), its manifest prepared under `dagster dev`."""
    project = project if project is not None else load_project()
    project_dir = project.dbt_project_dir
    dbt = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    # DbtProject builds dagster-dbt's own preparer, which parses with `dbt` from PATH and the
    # process's environment, not the runs' (dagster-dbt 0.29.27 takes no preparer argument).
    dbt = replace(dbt, preparer=TributaryDbtPreparer(project))
    if prepare_if_dev:
        dbt.prepare_if_dev()
    return dbt


class TributaryDbtPreparer(DbtProjectPreparer):
    """Prepares the manifest as `prepare_manifest` does: under `dagster dev` (each load of the
    definitions, i.e. the code server and each run) when a file of the dbt project is newer
    than the manifest, so that editing a model shows in the next reload without `make
    manifest`, and a run does not pay for a parse that changes nothing. Elsewhere it does
    nothing: deployments prepare the manifest at build time (`make manifest`, the Dockerfile),
    and loading definitions never runs dbt."""

    def __init__(self, project: ProjectConfig):
        self.project = project

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev() and manifest_is_stale(project):
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        prepare_manifest(self.project, project)


def manifest_is_stale(dbt: DbtProject) -> bool:
    manifest = Path(dbt.manifest_path)
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    target = (Path(dbt.project_dir) / dbt.target_path).resolve()
    for folder, dirs, files in os.walk(dbt.project_dir):
        dirs[:] = [d for d in dirs if (Path(folder) / d).resolve() != target and d != "logs"]
        if any((Path(folder) / name).stat().st_mtime > built for name in files):
            return True
    return False


def parse_env(project: ProjectConfig) -> dict[str, str]:
    """The environment each run gives dbt (`WarehouseResource.dbt_env`), without the password
    (dbt parse never logs in, and an image's build has none). dbt parses again from scratch
    when a run's profile (target, warehouse path or host, user, database) differs from the
    parse's: "Unable to do partial parsing" in the run's log."""
    return project.warehouse.dbt_env(secrets=False)


def prepare_manifest(project: ProjectConfig, dbt: DbtProject | None = None) -> Path:
    """`dbt parse` as the runs call dbt: through the same resource, with the environment they
    give it and the profile's default target (no --target), so that each run's dbt reuses this
    parse. The manifest and dbt's partial-parse state replace the old ones atomically, so that
    a process loading definitions meanwhile reads a whole manifest. Returns its path."""
    dbt = dbt if dbt is not None else dbt_project(project, prepare_if_dev=False)
    target = Path(dbt.project_dir) / dbt.target_path
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=target) as scratch:
        # dagster-dbt copies target/partial_parse.msgpack into the scratch target: a partial parse
        dbt_cli = TributaryDbtCliResource(project_dir=dbt, dbt_executable=str(DBT_EXECUTABLE))
        with scoped_environ(parse_env(project)):
            dbt_cli.cli(["parse", "--quiet"], target_path=Path(scratch)).wait()
        for name in ("partial_parse.msgpack", "manifest.json"):  # the manifest last
            if (Path(scratch) / name).is_file():
                os.replace(Path(scratch) / name, target / name)
    return Path(dbt.manifest_path)


def load_manifest(project: DbtProject) -> dict[str, Any]:
    path = Path(project.manifest_path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: the dbt manifest is missing; expected it prepared before definitions "
            "load: `make manifest` in a checkout, `python -m tributary.defs.prepare_dbt` "
            "elsewhere (dbt parse as the runs call dbt)"
        )
    manifest = json.loads(path.read_text())
    refuse_source_tests(manifest)
    return manifest


def refuse_source_tests(manifest: Mapping[str, Any]) -> None:
    """Tributary's dbt runs build models (automation's, after a schedule's loads), and a test
    is selected with the models it reads (cautious indirect selection): a test on a source is
    never selected, so it never ran and nothing said so. Such a test fails the definitions,
    naming where it belongs."""
    nodes = manifest["nodes"]
    for node in nodes.values():
        sources = [d for d in dbt_parents(node) if d.startswith("source.")]
        if node["resource_type"] != "test" or not sources:
            continue
        source = manifest["sources"][sources[0]]
        readers = sorted(
            model["name"]
            for model in nodes.values()
            if model["resource_type"] == "model" and sources[0] in dbt_parents(model)
        )
        raise ConfigError(
            f"dbt_project/{node['original_file_path']}: the test {node['name']} is on the "
            f"source {source['source_name']}.{source['name']}, and a test on a source never "
            "runs (Tributary's dbt runs build models); put it on the model that reads the "
            f"source ({', '.join(readers) or 'none yet'}), where it runs with every build and "
            "holds back what follows when it fails, or check the raw table with its checks "
            f"(assets_config/sources/{source['source_name']}.yaml)"
        )


def dbt_parents(node: Mapping[str, Any]) -> list[str]:
    """The unique ids of the nodes and sources `node` reads (a seed reads none: its
    `depends_on` holds only macros)."""
    return node.get("depends_on", {}).get("nodes", [])


# The dbt nodes that are tables or views in the warehouse, each an asset of the dbt step.
BUILT_NODES = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class ModelRef:
    """What an export needs of a dbt model (or seed, or snapshot): where it lives and which
    asset it is. An ephemeral model has no relation: dbt inlines it where it is read."""

    schema: str
    name: str  # dbt's alias: the relation's name in the schema
    asset_key: dg.AssetKey
    ephemeral: bool = False

    @property
    def relation(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def model_refs(manifest: Mapping[str, Any], project: DbtProject) -> dict[str, ModelRef]:
    translator = TributaryTranslator()
    return {
        node["name"]: ModelRef(
            # schema.alias, not relation_name: that also names the database dbt parsed
            # against, which differs between environments.
            schema=node["schema"],
            name=node["alias"],
            asset_key=translator.get_asset_spec(manifest, unique_id, project).key,
            ephemeral=node.get("config", {}).get("materialized") == "ephemeral",
        )
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in BUILT_NODES
    }


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a subprocess started inside the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Where dagster-dbt's specs (of models and of their tests' checks) name their dbt node.
DBT_UNIQUE_ID = "dagster_dbt/unique_id"


def tests_cautious_selection_drops(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any]
) -> list[str]:
    """The dbt tests (by fqn) of the checks a run selects that also read a model (or a seed, or
    a snapshot) the run does not build: cautious indirect selection leaves them out, and
    Dagster lets a blocking check that emitted no result pass (building stg_app__users alone
    dropped its relationship test to stg_app__companies, and an orphan user reached what
    followed; a relationship test to a seed was dropped from every build but the seed's)."""
    assets = context.assets_def
    built = {
        assets.specs_by_key[key].metadata[DBT_UNIQUE_ID] for key in context.selected_asset_keys
    }
    dropped = []
    for check in sorted(context.selected_asset_check_keys, key=lambda key: key.to_user_string()):
        test = manifest["nodes"][assets.get_spec_for_check_key(check).metadata[DBT_UNIQUE_ID]]
        read = {n for n in dbt_parents(test) if n.split(".")[0] in BUILT_NODES}
        if not read <= built:
            dropped.append(".".join(test["fqn"]))
    return dropped


def refuse_snapshots_on_failed_checks(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any], warehouse: Warehouse
) -> None:
    """A dbt snapshot keeps every version of a row it has recorded: built while a blocking
    check upstream stands failed, it kept the rows the check rejected for good (a rebuild
    cleared the gate, and no rebuild, --full-refresh included, removes them). The step builds
    nothing while a snapshot it selects is so; automation does not request one (its inputs'
    checks hold it back), an operator's run of it is refused, naming the checks."""
    specs = context.assets_def.specs_by_key
    refused = []
    for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
        node = manifest["nodes"][specs[key].metadata[DBT_UNIQUE_ID]]
        if node["resource_type"] == "snapshot" and (
            failed := failed_above(context, key, warehouse)
        ):
            checks = "; ".join(check.named() for check in failed)
            refused.append(f"snapshot {key.to_user_string()}: {checks}")
    if refused:
        raise dg.Failure(
            description=(
                "dbt built nothing: a snapshot keeps every version of a row it records, so "
                "built while a blocking check upstream of it stands failed it would keep the "
                "rows the check rejected for good (no rebuild removes them, --full-refresh "
                f"included). {'. '.join(refused)}. Run again once those checks pass (a "
                "passing load or build of what they check), or build the other models without "
                "the snapshot"
            )
        )


# Every dbt model is built by one op, so one pool serializes dbt runs (the instance's
# `concurrency: pools: default_limit: 1`), and the warehouse's lock where it has one
# (Warehouse.one_at_a_time): two runs of an incremental model at once would each insert the
# same new rows.
DBT_POOL = "dbt"


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="build the selected models whole (dbt build --full-refresh): an incremental "
        "model reads everything again, where a plain build adds only the rows past the newest "
        "it holds. What clears an incremental model built while a blocking check upstream of "
        "it stood failed (the export gate refuses it until then); each materialization records "
        "whether it was built so (`full_refresh`)",
    )


def builds_whole(node: Mapping[str, Any], full_refresh: bool) -> bool:
    """Whether `dbt build` rebuilds the node whole: a model's own `full_refresh` config, where
    set, overrides the run's `--full-refresh` (dbt's should_full_refresh)."""
    configured = node.get("config", {}).get("full_refresh")
    return full_refresh if configured is None else bool(configured)


def build_metadata(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any], full_refresh: bool
) -> dict[dg.AssetKey, dict[str, Any]]:
    """What each selected model's materialization records beyond dagster-dbt's: whether it was
    built whole, and of an incremental model built plainly, its builds since its last full
    refresh that hold rows a blocking check rejected (the export gate reads both)."""
    specs = context.assets_def.specs_by_key
    nodes = {
        key: manifest["nodes"][specs[key].metadata[DBT_UNIQUE_ID]]
        for key in context.selected_asset_keys
    }
    whole = {key for key, node in nodes.items() if builds_whole(node, full_refresh)}
    incremental = [
        key
        for key, node in nodes.items()
        if node.get("config", {}).get("materialized") == INCREMENTAL
    ]
    held = builds_held_by(context, incremental, whole)
    return {
        key: {
            FULL_REFRESH: key in whole,
            **(
                {HELD_BUILDS: dg.MetadataValue.json([build.to_record() for build in held[key]])}
                if key in held
                else {}
            ),
        }
        for key in nodes
    }


def build_transform_defs(manifest: Mapping[str, Any], dbt: DbtProject) -> dg.Definitions:
    @dbt_assets(
        manifest=manifest,
        project=dbt,
        dagster_dbt_translator=TributaryTranslator(),
        pool=DBT_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        config: DbtBuildConfig,
        dbt_cli: TributaryDbtCliResource,
        warehouse: WarehouseResource,
    ):
        with warehouse.open() as wh:
            wh.ensure_state()  # models read Tributary's own tables too (ops_load_status)
            refuse_snapshots_on_failed_checks(context, manifest, wh)
        # Cautious indirect selection: a test runs only when all the models it reads are
        # selected, so that building dim_customer alone does not run fct_sales' relationship
        # test against a table that is not there (it is fct_sales' check, not dim_customer's).
        # The run's own checks that it would drop (a relationship to a model not built in the
        # run) are selected by name: a blocking check that emits nothing gates nothing.
        env = {**warehouse.dbt_env(), "DBT_INDIRECT_SELECTION": "cautious"}
        dropped = tests_cautious_selection_drops(context, manifest)
        args = [
            "build",
            *(["--full-refresh"] if config.full_refresh else []),
            *(["--select", " ".join(dropped)] if dropped else []),
        ]
        # Opened again for the lock alone: PostgreSQL's connection holds an advisory lock, and
        # DuckDB's (which connects only when used) leaves the file free for dbt.
        with warehouse.open() as wh, wh.one_at_a_time(DBT_POOL):
            # Judged under the lock, before dbt builds: the builds each model holds now.
            metadata = build_metadata(context, manifest, config.full_refresh)
            with scoped_environ(env):
                invocation = dbt_cli.cli(args, context=context)
            for event in invocation.stream():
                if isinstance(event, dg.Output):
                    key = context.asset_key_for_output(event.output_name)
                    event = event.with_metadata({**event.metadata, **metadata.get(key, {})})
                yield event

    return dg.Definitions(
        assets=[dbt_models],
        resources={
            "dbt_cli": TributaryDbtCliResource(project_dir=dbt, dbt_executable=str(DBT_EXECUTABLE))
        },
    )
