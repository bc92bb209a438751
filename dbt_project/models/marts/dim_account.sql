{#-
  Salesforce accounts met with ERP customers through the external id both systems carry
  (Account.External_Id__c = customers.external_id). Deleted accounts and opportunities are
  excluded. An account the ERP does not know points at the 'unknown' customer.
-#}
with accounts as (
    select * from {{ ref('stg_salesforce__account') }}
    where not is_deleted
),

opportunities as (
    select * from {{ ref('stg_salesforce__opportunity') }}
    where not is_deleted
),

pipeline as (
    select
        account_id,
        count(*) as opportunities,
        sum(case when not is_closed then 1 else 0 end) as open_opportunities,
        sum(case when not is_closed then amount else 0 end) as open_pipeline_amount,
        sum(case when is_won then amount else 0 end) as won_amount
    from opportunities
    group by account_id
),

customers as (
    select customer_key, customer_id, customer_name, external_id
    from {{ ref('dim_customer') }}
    where external_id is not null
)

select
    md5(accounts.account_id) as account_key,
    accounts.account_id,
    accounts.account_name,
    accounts.account_type,
    accounts.industry,
    accounts.annual_revenue,
    accounts.billing_city,
    accounts.billing_country,
    accounts.external_id,
    coalesce(customers.customer_key, 'unknown') as customer_key,
    customers.customer_id as erp_customer_id,
    customers.customer_name as erp_customer_name,
    coalesce(pipeline.opportunities, 0) as opportunities,
    -- a sum of integers is a HUGEINT on DuckDB, a bigint elsewhere
    cast(coalesce(pipeline.open_opportunities, 0) as bigint) as open_opportunities,
    cast(coalesce(pipeline.open_pipeline_amount, 0) as decimal(18, 2)) as open_pipeline_amount,
    cast(coalesce(pipeline.won_amount, 0) as decimal(18, 2)) as won_amount,
    accounts.system_modstamp
from accounts
left join customers
    on accounts.external_id = customers.external_id
left join pipeline
    on accounts.account_id = pipeline.account_id
