"""How a source tells one key value from another, carried to the warehouse with a load.

A MySQL/MariaDB or SQL Server text column compares by its collation: usually ignoring case,
and (MariaDB's PAD SPACE collations, SQL Server always) trailing spaces; a PostgreSQL one by
its type and collation (citext ignores case, char(n) trailing spaces). There 'abc' updated
to 'ABC' is still the one row it was; DuckDB, PostgreSQL and Redshift compare text exactly,
and would keep both spellings. The source's rule, asked of the source itself (SqlSource.
key_match), is what the load's merge and its checks compare keys by.

Accents are not folded: no function folds them alike on every warehouse (PostgreSQL's
unaccent is an extension). A key changed only in its accents under an accent-insensitive
collation is two rows in the warehouse, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TextMatch:
    """How a source compares one key column's values: exactly (the default: numbers, dates,
    binary text, and every source that cannot say), or ignoring letter case and/or trailing
    spaces, as its collation does."""

    ignores_case: bool = False
    ignores_trailing_spaces: bool = False

    @property
    def exact(self) -> bool:
        return not (self.ignores_case or self.ignores_trailing_spaces)

    def sql(self, value: str) -> str:
        """`value` (an SQL expression) as the warehouse compares it. rtrim's explicit ' ':
        DuckDB's rtrim without one also strips other white space (a no-break space), which a
        PAD SPACE collation keeps. lower and rtrim are the same functions on DuckDB,
        PostgreSQL and Redshift."""
        if self.ignores_trailing_spaces:
            value = f"rtrim({value}, ' ')"
        if self.ignores_case:
            value = f"lower({value})"
        return value

    def describe(self) -> str:
        if self.exact:
            return "exactly"
        ignored = [
            what
            for what, ignores in (
                ("case", self.ignores_case),
                ("trailing spaces", self.ignores_trailing_spaces),
            )
            if ignores
        ]
        return "ignoring " + " and ".join(ignored)


EXACT = TextMatch()


def described(key: Sequence[str], match: Sequence[TextMatch]) -> str:
    """How each key column is matched, for people: `code ignoring case and trailing spaces`;
    "" when every column is matched exactly."""
    return ", ".join(
        f"{name} {how.describe()}" for name, how in zip(key, match, strict=True) if not how.exact
    )
