"""What the UI shows of each dbt model before it is ever built: a description that reads as
plain text (the catalog list) and as markdown (the asset page), and a typed column schema."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from tributary.config.loader import load_project
from tributary.defs import build_definitions

from ..conftest import CONFIG_DIR


@pytest.fixture(scope="module")
def dbt_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dg.AssetSpec]:
    """Every dbt model's spec, from the definitions of the shipped configuration."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIBUTARY_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        defs = build_definitions(load_project(CONFIG_DIR))
    specs = {
        spec.key.to_user_string(): spec
        for assets_def in defs.assets or []
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.specs
        if "dbt" in spec.kinds
    }
    assert len(specs) >= 10
    return specs


# Markdown that the catalog list would print as is: headings, code fences, emphasis markers.
RAW_MARKDOWN = re.compile(r"(^|\n)\s*#|```|\*\*")


def test_descriptions_are_the_models_prose(dbt_specs: dict[str, dg.AssetSpec]) -> None:
    for key, spec in dbt_specs.items():
        assert spec.description, f"{key} has no description"
        assert not RAW_MARKDOWN.search(spec.description), f"{key}: {spec.description!r}"
        assert spec.description == spec.description.strip()


def test_fct_sales_description(dbt_specs: dict[str, dg.AssetSpec]) -> None:
    assert dbt_specs["marts/fct_sales"].description == (
        "Sales orders joined to the customer dimension by tenant and business key."
    )


def test_the_sql_is_in_the_metadata(dbt_specs: dict[str, dg.AssetSpec]) -> None:
    """The model's SQL, which dagster-dbt would append to the description, as a markdown entry."""
    models = CONFIG_DIR.parent / "dbt_project" / "models"
    for key, spec in dbt_specs.items():
        [sql_file] = models.rglob(f"{key.split('/')[-1]}.sql")
        markdown = spec.metadata["raw_sql"]
        assert isinstance(markdown, dg.MarkdownMetadataValue)
        assert markdown.md_str == f"```sql\n{sql_file.read_text().strip()}\n```"


def test_every_column_has_a_type(dbt_specs: dict[str, dg.AssetSpec]) -> None:
    """`data_type` on each column of the models' YAML; dagster-dbt shows "?" for a column
    without one, and nothing for a column the YAML does not list."""
    for key, spec in dbt_specs.items():
        schema = spec.metadata.get("dagster/column_schema")
        assert schema is not None and schema.columns, f"{key} declares no columns"
        untyped = [c.name for c in schema.columns if not c.type or c.type == "?"]
        assert not untyped, f"{key}: no data_type for {untyped}"


def test_declared_types_use_portable_names(dbt_specs: dict[str, dg.AssetSpec]) -> None:
    """Names DuckDB, PostgreSQL and Redshift all accept, written one way."""
    portable = re.compile(r"varchar|bigint|integer|boolean|date|timestamp(tz)?|numeric\(\d+,\d+\)")
    for key, spec in dbt_specs.items():
        for column in spec.metadata["dagster/column_schema"].columns:
            assert portable.fullmatch(column.type), f"{key}.{column.name}: {column.type}"


def test_a_test_on_a_dbt_source_is_refused_naming_where_it_belongs() -> None:
    """Tributary's dbt runs build models (automation's, after a schedule's loads), so a test
    written on a source (`_app__sources.yml`) was never selected: a NULL it was there to find
    went on into the marts, and nothing said the test had not run."""
    import json
    from pathlib import Path

    from tributary.config.loader import ConfigError
    from tributary.defs.transform import refuse_source_tests

    manifest = json.loads(
        (Path(CONFIG_DIR).parent / "dbt_project" / "target" / "manifest.json").read_text()
    )
    refuse_source_tests(manifest)  # the shipped project has none
    source = next(s for s in manifest["sources"].values() if s["source_name"] == "app")
    manifest["nodes"]["test.tributary.source_not_null_app_companies_plan.1"] = {
        "resource_type": "test",
        "name": "source_not_null_app_companies_plan",
        "original_file_path": "models/staging/app/_app__sources.yml",
        "depends_on": {"macros": [], "nodes": [source["unique_id"]]},
    }
    with pytest.raises(ConfigError) as raised:
        refuse_source_tests(manifest)
    readers = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and source["unique_id"] in node["depends_on"]["nodes"]
    )
    assert readers and str(raised.value) == (
        "dbt_project/models/staging/app/_app__sources.yml: the test "
        f"source_not_null_app_companies_plan is on the source app.{source['name']}, and a "
        "test on a source never runs (Tributary's dbt runs build models); put it on the model "
        f"that reads the source ({', '.join(readers)}), where it runs with every build and "
        "holds back what follows when it fails, or check the raw table with its checks "
        "(assets_config/sources/app.yaml)"
    )
