"""The SQL an export runs: a model's relation, or a custom query with dbt-style refs."""

from __future__ import annotations

import re

REF = re.compile(r"\{\{\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*\}\}")


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


def export_sql(*, model: str | None, query: str | None, relations: dict[str, str]) -> str:
    if model:
        return render_refs(f"select * from {{{{ ref('{model}') }}}}", relations)
    assert query is not None
    return render_refs(query, relations)
