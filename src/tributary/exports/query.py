"""The SQL an export runs: a model's relation, or a custom query with dbt-style refs and
sources and {{ parameters }}; narrowed to one day or ordered by the partitioning column."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from tributary.config.models import QUERY_PARAMETER, REF, SOURCE, ExportConfig, Tenant
from tributary.warehouse.base import (
    Warehouse,
    quote_ident,
    quote_literal,
    raw_relation,
    raw_schema,
)


class UnknownModelError(KeyError):
    pass


def render_refs(sql: str, relations: dict[str, str]) -> str:
    """Replace each {{ ref('model') }} with the model's warehouse relation."""

    def relation(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in relations:
            raise UnknownModelError(f"no dbt model named '{name}'")
        return relations[name]

    return REF.sub(relation, sql)


def render_sources(sql: str) -> str:
    """Replace each {{ source('source', 'table') }} with the raw table that source's table is
    loaded into (the configuration refuses a source or table it does not have)."""
    return SOURCE.sub(lambda match: raw_relation(match.group(1), match.group(2)), sql)


def export_sql(*, model: str | None, query: str | None, relations: dict[str, str]) -> str:
    if model:
        return render_refs(f"select * from {{{{ ref('{model}') }}}}", relations)
    assert query is not None
    # its semicolon went when the config was read
    return render_sources(render_refs(query, relations))


def sql_literal(value: object, quote: Callable[[str], str] = quote_literal) -> str:
    """A value as a SQL literal; text through `quote`, the warehouse's own string literal
    (Redshift reads backslashes in one as escapes, DuckDB and PostgreSQL do not)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        # In fixed notation: DuckDB reads 1.0E+3 as a double, 1000 as a number (as PostgreSQL).
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def partition_parameters(day: date) -> dict[str, object]:
    """{{ partition_date }} and the day's bounds: [partition_start, partition_end) in UTC."""
    start = datetime.combine(day, time())
    return {
        "partition_date": day,
        "partition_start": start,
        "partition_end": start + timedelta(days=1),
    }


def render_parameters(
    sql: str, values: Mapping[str, object], quote: Callable[[str], str] = quote_literal
) -> str:
    def literal(match: re.Match[str]) -> str:
        return sql_literal(values[match.group(1)], quote)

    return QUERY_PARAMETER.sub(literal, sql)


def partition_sql(
    export: ExportConfig,
    sql: str,
    day: date,
    *,
    tenant: Tenant | None = None,
    quote: Callable[[str], str] = quote_literal,
) -> str:
    """What one run of the export reads: `sql` (refs resolved) for the partition's `day`,
    and of a per_tenant export, `tenant`'s rows only; parameters rendered as literals
    (strings by `quote`, the warehouse's)."""
    if export.per_tenant:
        if tenant is None:
            raise ValueError(f"export '{export.name}' is per_tenant: a run publishes one tenant")
        # The id as text: the raw tables' _tenant_id is text, and a number column compares
        # with a quoted number on DuckDB, PostgreSQL and Redshift alike. A source's own tenant
        # column holds the id as the source spelled it, which its load took for the tenant's
        # ignoring case (MySQL's collation) and padding (char(n)): compared so here too. No
        # other tenant's rows can match so: ids alike so are refused (tenants.alike_ids).
        column = quote_ident(export.tenant_column)
        sql = (
            f"select * from ({sql}) as tenant_rows where ({column} = "
            f"{sql_literal(tenant.key, quote)} or lower(rtrim(cast({column} as varchar))) = "
            f"{sql_literal(tenant.key.lower(), quote)})"
        )
    partitioning = export.partitioning
    if partitioning.by == "date" and partitioning.column:
        column = quote_ident(partitioning.column)
        sql = (
            f"select * from ({sql}) as export_rows "
            f"where {column} >= {{{{ partition_start }}}} and {column} < {{{{ partition_end }}}}"
        )
    elif partitioning.by == "column":
        # Each partition's rows arrive together, so each is written in one go.
        column = quote_ident(partitioning.column)
        sql = f"select * from ({sql}) as export_rows order by {column} nulls last"
    return for_day(export, sql, day, quote)


def for_day(
    export: ExportConfig, sql: str, day: date, quote: Callable[[str], str] = quote_literal
) -> str:
    """`sql` with the export's parameters and `day`'s partition parameters as literals."""
    return render_parameters(sql, {**export.parameters, **partition_parameters(day)}, quote)


def first_cut_name(sql: str, warehouse: Warehouse) -> tuple[str, str] | None:
    """The first name in `sql` (an alias, quoted or not) that `warehouse` would cut, with why
    (Warehouse.name_cut), or None. PostgreSQL cuts each identifier of a statement to 63 bytes
    as it reads it, without a word: an alias cut so names the export's column otherwise. Found
    in the text before anything runs (strings and comments aside), as the warehouse's own
    lexer would: the result's names come back already cut."""
    if warehouse.name_bytes is None:
        return None
    import sqlglot  # here: only warehouses that cut names need the tokenizer
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.tokenize(sql, read=warehouse.kind)
    except sqlglot.errors.SqlglotError:
        return None  # SQL it cannot read: the warehouse says what is wrong with it
    names = (t.text for t in tokens if t.token_type in (TokenType.IDENTIFIER, TokenType.VAR))
    return next(((name, problem) for name in names if (problem := warehouse.name_cut(name))), None)


def raw_tables_read(
    sql: str, raw_tables: Iterable[tuple[str, str]], dialect: str
) -> list[tuple[str, str]]:
    """The raw tables of `raw_tables` ((source, table) pairs) that `sql` reads by their
    warehouse names (raw_<source>.<table>, quoted or not, qualified by a database or not),
    sorted. Names compare ignoring case: DuckDB and Redshift ignore it, and on PostgreSQL a
    name in another case than the table's is no table (the query fails). A CTE, a model's
    relation, another schema's table, a string or a comment reads none."""
    wanted = {
        (raw_schema(source).casefold(), table.casefold()): (source, table)
        for source, table in raw_tables
    }
    return sorted({wanted[key] for key in relations_read(sql, dialect) if key in wanted})


def relations_read(sql: str, dialect: str) -> set[tuple[str, str]]:
    """Each schema-qualified relation an export's `sql` reads (tables_named), a query
    parameter taken as the value it is."""
    return tables_named(QUERY_PARAMETER.sub("null", sql), dialect)


def tables_named(sql: str, dialect: str) -> set[tuple[str, str]]:
    """Each schema-qualified table `sql` reads, as (schema, table) in lower case. sqlglot
    parses it in the warehouse's `dialect`; in SQL it cannot parse (syntax it does not know,
    which the warehouse may), each `schema.table` pair of its tokens: a raw table missed
    would be read outside the export's lineage, its failed checks gating nothing."""
    import sqlglot  # here: definitions load it only for a query export (0.1 s of imports)
    from sqlglot import exp
    from sqlglot.tokens import TokenType

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        tree = None
    if tree is not None:
        return {
            (table.db.casefold(), table.name.casefold())
            for table in tree.find_all(exp.Table)
            if table.db
        }
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return set()  # SQL it cannot even read: the warehouse says what is wrong with it
    # Any name, a keyword's too (a table called `order`): only configured pairs count.
    return {
        (schema.text.casefold(), table.text.casefold())
        for schema, dot, table in zip(tokens, tokens[1:], tokens[2:], strict=False)
        if dot.token_type == TokenType.DOT
        and TokenType.STRING not in (schema.token_type, table.token_type)
    }
