{#-
  The customer dimension. revenue_flag reproduces the legacy stored procedure
  (usp_load_dim_customer): customers in the three revenue cities are flagged 'Y'.
  The 'unknown' member is what facts point at when the ERP does not know their customer.
-#}
{% set revenue_cities = ['Seattle', 'New York', 'Chicago'] %}

with customers as (
    select * from {{ ref('stg_erp__customers') }}
    where not is_deleted
)

select
    md5(cast(customer_id as {{ dbt.type_string() }})) as customer_key,
    customer_id,
    customer_name,
    city,
    country,
    external_id,
    case
        when city in ('{{ revenue_cities | join("', '") }}') then 'Y'
        else 'N'
    end as revenue_flag,
    modified_at
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
    null as modified_at
