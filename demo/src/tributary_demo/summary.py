"""What a demo run produced, in a few lines a newcomer can read."""

from __future__ import annotations

from tributary.config.loader import ProjectConfig
from tributary.exports.store import SUCCESS, open_export_store
from tributary.warehouse import quote_ident
from tributary.warehouse.duckdb.warehouse import DuckDBWarehouse


def summarize(project: ProjectConfig) -> str:
    lines = ["Tables in the warehouse", f"  ({project.warehouse.path})"]
    with DuckDBWarehouse(project.warehouse.path) as warehouse:
        tables = warehouse.con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw_%' or table_schema in ('staging', 'marts') "
            "order by table_schema like 'raw_%' desc, table_schema, table_name"
        ).fetchall()
        staging = [table for schema, table in tables if schema == "staging"]
        for schema, table in tables:
            if schema == "staging":  # one line: they are the raw tables, cleaned
                continue
            relation = f"{quote_ident(schema)}.{quote_ident(table)}"
            rows = warehouse.con.execute(f"select count(*) from {relation}").fetchone()
            lines.append(f"  {schema + '.' + table:<36} {rows[0]:>7,} rows")
        lines.append(f"  staging: {len(staging)} models, one per raw table")
    store = open_export_store(project.exports_url, project=project.platform.exports.project)
    fs, root = store.fs, store.root
    published = sorted(path.rsplit("/", 1)[0] for path in fs.glob(f"{root}/*/*/{SUCCESS}"))
    lines.append("Published exports")
    lines.extend(f"  {fs.unstrip_protocol(path)}" for path in published)
    lines.append("Open the UI on this project with: make dev  (then http://127.0.0.1:3000)")
    return "\n".join(lines)
