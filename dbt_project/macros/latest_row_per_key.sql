{#-
  One row per key: the latest by `order_by`. Raw tables keep every change row a CDC feed or
  an incremental re-read delivers; staging models call this once, so the rule lives here.
-#}
{% macro latest_row_per_key(relation, key, order_by) -%}
    select *
    from (
        select
            changes.*,
            row_number() over (partition by {{ key }} order by {{ order_by }} desc) as _change_rank
        from {{ relation }} as changes
    ) as ranked
    where _change_rank = 1
{%- endmacro %}
