"""Queries a source's server refuses as Tributary reads them: inside `(...)`, a derived table
(`select ... from (<query>) as src`, see config.models.Query). SQL Server and MySQL refuse
there some queries that run on their own; said at config load, naming file and key, rather
than by the driver at every run. sqlglot parses them (imported only for those kinds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tributary.names import repeated

if TYPE_CHECKING:
    from sqlglot import exp

# The clauses that let SQL Server take an ORDER BY in a subquery (sqlglot's names: TOP and
# FETCH are its limit, FOR XML its for_).
_ORDER_BY_ALLOWED_WITH = ("limit", "offset", "for_")
# Why each refusal matters: what Tributary makes of a query.
_READ_AS_ONE = "and Tributary reads this query as one (select ... from (<query>) ...)"
# The kinds whose servers refuse as a subquery some queries others take, with the dialect
# sqlglot reads their SQL in.
_SUBQUERY_DIALECTS = {"sqlserver": "tsql", "mysql": "mysql"}
# Who refuses two columns of one name in a derived table, and with which error.
_REPEATED_NAME_REFUSED_BY = {
    "sqlserver": ("SQL Server refuses", "its error 8156"),
    "mysql": ("MySQL and MariaDB refuse", "their error 1060, Duplicate column name"),
}


def subquery_refusal(query: str, kind: str) -> str | None:
    """Why a source of `kind` refuses `query` as Tributary reads it, a derived table inside
    `(...)`, or None. SQL Server refuses there a WITH, an OPTION (...) hint, an
    ORDER BY without TOP, OFFSET or FOR XML, a column without a name and two columns of one
    name (admin queries pasted from SSMS have each); MySQL and MariaDB refuse two columns of
    one name. The other kinds take each (Oracle's top-N idiom orders an inline view; they
    name an expression themselves); PostgreSQL and Oracle return a name twice, which a load
    refuses naming it (ingest.check_column_names). Only the query's own clauses and columns
    count, not a nested subquery's or a window's, nor a string's or a comment's; a query
    sqlglot cannot parse is left to the server."""
    dialect = _SUBQUERY_DIALECTS.get(kind)
    if dialect is None:
        return None
    import sqlglot  # here: 0.1 s of imports only SQL Server and MySQL sources' queries need
    from sqlglot import exp

    try:
        # None for an empty statement: `;WITH ...`, as SQL Server users write a CTE.
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError:
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    statement = statements[0]
    if kind == "sqlserver" and (
        refusal := _sqlserver_clause_refusal(statement) or _sqlserver_unnamed_refusal(statement)
    ):
        return refusal
    return _repeated_name_refusal(statement, kind)


def _sqlserver_clause_refusal(statement: exp.Query) -> str | None:
    """A WITH, an OPTION or an ORDER BY (without TOP, OFFSET or FOR XML) of the statement,
    at each level of its parentheses, which SQL Server refuses in a derived table."""
    from sqlglot import exp

    while isinstance(statement, exp.Query):
        if statement.args.get("with_"):
            return (
                f"SQL Server refuses a WITH (a common table expression) in a subquery, "
                f"{_READ_AS_ONE}; write each common table expression as a derived table "
                "(from (select ...) as r), or create a view in the source (a view may hold a "
                "WITH) and select from it"
            )
        if options := statement.args.get("options"):
            hints = ", ".join(option.sql(dialect="tsql", comments=False) for option in options)
            return (
                f"SQL Server refuses a query hint, 'OPTION({hints})', in a subquery, "
                f"{_READ_AS_ONE}; remove the OPTION clause (a view cannot hold one either); a "
                "table hint may stay after its table (from t with (nolock))"
            )
        order = statement.args.get("order")
        if order and not any(statement.args.get(key) for key in _ORDER_BY_ALLOWED_WITH):
            clause = order.sql(dialect="tsql", comments=False)
            return (
                f"SQL Server refuses '{clause}' in a subquery unless TOP, OFFSET or FOR XML "
                f"goes with it, {_READ_AS_ONE}; remove the ORDER BY: nothing Tributary does "
                "depends on the order of the rows (a load keeps one row per key by its cursor, a "
                "registry's are sorted), and the query around a subquery keeps none"
            )
        statement = statement.this if isinstance(statement, exp.Subquery) else None
    return None


def _sqlserver_unnamed_refusal(statement: exp.Query) -> str | None:
    """The first column SQL Server leaves without a name (an expression that is neither a
    column nor named with AS), which it refuses in a derived table (error 8155)."""
    from sqlglot import exp

    # What SQL Server names these is its own business (a star's columns, *, t.*; a column
    # in parentheses; a method's call): left to the server.
    unknown = (exp.Star, exp.Column, exp.Paren, exp.Dot)
    for position, column in enumerate(statement.selects, 1):
        if _column_name(column, "tsql") is None and not isinstance(column, unknown):
            text = column.sql(dialect="tsql", comments=False)
            shown = text if len(text) <= 60 else text[:57] + "..."
            example = text if len(text) <= 60 else "<expression>"
            return (
                f"SQL Server refuses a subquery's column without a name (its error 8155), "
                f"{_READ_AS_ONE}; column {position}, {shown}, has none: name it with AS "
                f"({example} AS <name>)"
            )
    return None


def _repeated_name_refusal(statement: exp.Query, kind: str) -> str | None:
    """Two columns of the statement named alike, ignoring case (as a load compares them,
    MySQL always and SQL Server in its usual collations), which SQL Server and MySQL refuse
    in a derived table."""
    dialect = _SUBQUERY_DIALECTS[kind]
    names = [name for column in statement.selects if (name := _column_name(column, dialect))]
    if not (twice := repeated(names)):
        return None
    who, error = _REPEATED_NAME_REFUSED_BY[kind]
    return (
        f"{who} a subquery with two columns named {twice} ({error}), {_READ_AS_ONE}; give "
        "each its own name with AS (b.id as b_id)"
    )


def _column_name(column: exp.Expression, dialect: str) -> str | None:
    """The name a select list's entry plainly gives its column: a column's own (t.id: id),
    an alias's (x as n; T-SQL's n = x and 'n' = x too); None for any other."""
    from sqlglot import exp

    if isinstance(column, exp.Alias):
        return column.alias or None
    if isinstance(column, exp.Column) and not isinstance(column.this, exp.Star):
        return column.name
    left = column.this if isinstance(column, exp.EQ) else None
    if dialect == "tsql" and isinstance(left, exp.Literal) and left.is_string:
        return left.name  # sqlglot reads T-SQL's `n = x` as an alias, `'n' = x` as this
    return None
