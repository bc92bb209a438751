"""dbt models as assets; dbt tests as asset checks; dbt sources mapped onto the raw assets."""

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import dbt.version
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging.version import Version

from tributary.config import ConfigError
from tributary.config.loader import PROJECT_ROOT
from tributary.defs.automation import FOLLOWS_LOADS
from tributary.defs.ingest import raw_asset_key
from tributary.defs.resources import WarehouseResource
from tributary.warehouse import quote_ident

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
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
    """dbt sources become the raw table assets; models are grouped by their folder."""

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
        return spec.replace_attributes(group_name=group, automation_condition=FOLLOWS_LOADS)


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def load_manifest(project: DbtProject) -> dict[str, Any]:
    path = Path(project.manifest_path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: the dbt manifest is missing; expected `make manifest` "
            "(dbt parse) to have prepared it"
        )
    return json.loads(path.read_text())


@dataclass(frozen=True)
class ModelRef:
    """What an export needs of a dbt model: where it lives and which asset it is."""

    relation: str
    asset_key: dg.AssetKey


def model_refs(manifest: Mapping[str, Any], project: DbtProject) -> dict[str, ModelRef]:
    translator = TributaryTranslator()
    return {
        node["name"]: ModelRef(
            # schema.alias, not relation_name: that also names the database dbt parsed
            # against, which differs between environments.
            relation=f"{quote_ident(node['schema'])}.{quote_ident(node['alias'])}",
            asset_key=translator.get_asset_spec(manifest, unique_id, project).key,
        )
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
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


def build_transform_defs(manifest: Mapping[str, Any], dbt: DbtProject) -> dg.Definitions:
    @dbt_assets(
        manifest=manifest,
        project=dbt,
        dagster_dbt_translator=TributaryTranslator(),
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt_cli: TributaryDbtCliResource,
        warehouse: WarehouseResource,
    ):
        with warehouse.open() as wh:
            wh.ensure_state()  # models read Tributary's own tables too (ops_load_status)
        # Cautious indirect selection: a test runs only when all the models it reads are
        # selected, so that building dim_customer alone does not run fct_sales' relationship
        # test against a table that is not there (it is fct_sales' check, not dim_customer's).
        env = {**warehouse.dbt_env(), "DBT_INDIRECT_SELECTION": "cautious"}
        with scoped_environ(env):
            invocation = dbt_cli.cli(["build"], context=context)
        yield from invocation.stream()

    return dg.Definitions(
        assets=[dbt_models],
        resources={
            "dbt_cli": TributaryDbtCliResource(project_dir=dbt, dbt_executable=str(DBT_EXECUTABLE))
        },
    )
