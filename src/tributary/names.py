"""Column names as the rows spell them. Configuration names a column as its source spells it;
the rows may spell it otherwise: a SQL source's rows carry an all-upper-case name (which the
source matches whatever its case: Oracle's and MySQL's ID) in lower case, as its SQLAlchemy
dialect normalizes it, and Salesforce's rows carry API names in lower case. So a configured
name is matched to the rows' (or the raw table's) own: exactly, else but for case."""

from __future__ import annotations

from collections.abc import Sequence


def as_spelled(name: str, names: Sequence[str]) -> str:
    """`name` as `names` spell it; itself where none matches (whoever needs the column names
    its absence)."""
    if name in names:
        return name
    folded = name.casefold()
    return next((found for found in names if found.casefold() == folded), name)


def first_repeat(names: Sequence[str]) -> tuple[str, str] | None:
    """The first name that repeats an earlier one but for case, with that earlier spelling:
    (earlier, repeat); None when each is its own. DuckDB and Redshift take names that differ
    only in case for one, as do the readers of export files (Spark, BigQuery)."""
    if (at := first_repeat_at(names)) is None:
        return None
    return names[at[0]], names[at[1]]


def first_repeat_at(names: Sequence[str]) -> tuple[int, int] | None:
    """first_repeat's two positions in `names`."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        folded = name.casefold()
        if folded in seen:
            return seen[folded], position
        seen[folded] = position
    return None


def repeated(names: Sequence[str]) -> str | None:
    """first_repeat as a message names it: 'id', or 'id' and 'ID'."""
    if (pair := first_repeat(names)) is None:
        return None
    return " and ".join(map(repr, dict.fromkeys(pair)))


def cut_size(name: str, limit: int | None) -> int | None:
    """The length of `name` in bytes (UTF-8) when a warehouse keeping `limit` bytes of a name
    would cut it, None when it fits (or `limit` is None: no limit). PostgreSQL keeps 63 bytes
    of an identifier and Redshift 127, each cutting a longer one without a word: two names
    differing only after it become one."""
    size = len(name.encode())
    return size if limit is not None and size > limit else None


def listed(names: Sequence[str], most: int = 30) -> str:
    """A result's column names for an error that says a name is not among them: each of
    them, or how many where they are many."""
    return ", ".join(names) if len(names) <= most else f"{len(names)} columns"
