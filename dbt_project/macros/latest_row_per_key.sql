{#-
  One row per key: the latest by `order_by`. Raw tables keep every change row a CDC feed or
  an incremental re-read delivers; staging models call this once, so the rule lives here.
  `key` is a column or a list of them: a tenant-scoped table's key is (`_tenant_id`, its
  business key), since the business key repeats across tenants (docs/tenants.md).
  A version whose `order_by` is NULL is the oldest, as in the loader's merge, on every
  warehouse: PostgreSQL and Redshift sort NULLs first in a descending order, DuckDB last.
-#}
{% macro latest_row_per_key(relation, key, order_by) -%}
    {%- set keys = [key] if key is string else key -%}
    select *
    from (
        select
            changes.*,
            row_number() over (partition by {{ keys | join(', ') }} order by {{ order_by }} desc nulls last) as _change_rank
        from {{ relation }} as changes
    ) as ranked
    where _change_rank = 1
{%- endmacro %}
