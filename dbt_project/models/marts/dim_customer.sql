{#-
  The customer dimension. revenue_flag reproduces the legacy stored procedure
  (usp_load_dim_customer): customers in the revenue cities (the dbt var `revenue_cities`,
  dbt_project.yml) are flagged 'Y'. Cities compare case- and blank-insensitively, because
  ERPs spell them 'New York', 'new york' or 'NEW YORK '.
  The 'unknown' member is what facts point at when the ERP does not know their customer.
  A tenant-scoped ERP's customer numbers repeat per tenant: a customer is (_tenant_id,
  customer_id), and its key md5('<tenant>/<customer_id>'); md5(customer_id) where the table is
  not tenant-scoped (_tenant_id NULL), so those keys never change.
-#}
{%- set revenue_cities = var('revenue_cities') -%}
{%- if revenue_cities is string or revenue_cities is mapping or revenue_cities is not iterable -%}
    {{ exceptions.raise_compiler_error(
        "dbt var 'revenue_cities': expected a list of city names, e.g. ['Seattle', 'New York'];"
        ~ " got " ~ revenue_cities) }}
{%- endif %}

with customers as (
    select * from {{ ref('stg_erp__customers') }}
    where not is_deleted
)

select
    md5(
        case when _tenant_id is null then '' else _tenant_id || '/' end
        || cast(customer_id as {{ dbt.type_string() }})
    ) as customer_key,
    customer_id,
    customer_name,
    city,
    country,
    external_id,
    {% if revenue_cities | length > 0 -%}
    case
        when lower(trim(city)) in (
            {%- for name in revenue_cities -%}
            '{{ name | string | trim | lower | replace("'", "''") }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        ) then 'Y'
        else 'N'
    end as revenue_flag,
    {%- else -%}
    'N' as revenue_flag,
    {%- endif %}
    modified_at,
    _tenant_id
from customers

union all

select
    'unknown' as customer_key,
    null as customer_id,
    'Unknown customer' as customer_name,
    null as city,
    null as country,
    null as external_id,
    'N' as revenue_flag,
    null as modified_at,
    null as _tenant_id
