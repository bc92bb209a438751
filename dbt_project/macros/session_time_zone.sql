{#-
  Every model's session reads and writes times in UTC, as Tributary's own sessions do
  (warehouse/base.py SESSION_TIME_ZONE): a timestamp with time zone cast to a date
  (fct_sales.order_date) is then the UTC day, not the day in the server's or database's
  default zone. DuckDB's profile sets TimeZone itself (profiles.yml); dbt-postgres has no
  profile setting for it and redshift_connector no connection options, so a pre-hook
  (dbt_project.yml) sets it on those two. Renders nothing elsewhere, and dbt skips an empty
  hook.
-#}
{% macro set_session_time_zone() -%}
    {%- if target.type in ('postgres', 'redshift') -%}
        set timezone to 'UTC'
    {%- endif -%}
{%- endmacro %}
