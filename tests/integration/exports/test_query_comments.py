"""A configured query ending in a `--` comment reads as written wherever it is wrapped:
`select * from (<query>) as export_rows ...` had put the closing parenthesis in the comment."""

from __future__ import annotations

from datetime import date

import pytest

from tributary.config.models import ExportConfig, Tenant
from tributary.exports import ExportStore, run_export

pytestmark = pytest.mark.integration

QUERIES = [
    "select 1 as id, 'EU' as region, timestamp '2024-05-01 10:00:00' as sold_at, "
    "'7' as _tenant_id -- one row;",
    "select 1 as id, 'EU' as region, timestamp '2024-05-01 10:00:00' as sold_at,\n"
    "       '7' as _tenant_id\n-- a comment on the last line, with ) and a quote '",
]
WAYS = {
    "run_date": {},
    "column": {"partitioning": {"by": "column", "column": "region"}},
    "date": {"partitioning": {"by": "date", "start_date": "2024-01-01", "column": "sold_at"}},
    "per_tenant": {"per_tenant": True},
}


@pytest.mark.parametrize("query", QUERIES, ids=["comment after", "comment line"])
@pytest.mark.parametrize("way", WAYS)
def test_a_query_ending_in_a_line_comment_exports(warehouse, tmp_path, query, way) -> None:
    config = ExportConfig.model_validate(
        {"name": "e", "query": query, "depends_on": ["m"]} | WAYS[way]
    )
    outcome = run_export(
        config,
        sql=config.query,
        day=date(2024, 5, 1),
        warehouse=warehouse,
        store=ExportStore(str(tmp_path / "exports")),
        asset="export/e",
        batch_rows=1000,
        tenant=Tenant(id=7, alias="seven") if config.per_tenant else None,
    )
    assert outcome.row_count == 1
    expected = "region=EU" if way == "column" else "dt=2024-05-01"
    assert [p.manifest.partition for p in outcome.publications] == [expected]
