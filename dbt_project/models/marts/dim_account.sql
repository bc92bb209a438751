{#-
  Salesforce accounts met with ERP customers through the external id both systems carry
  (Account.External_Id__c = customers.external_id). Deleted accounts and opportunities are
  excluded. An account the ERP does not know points at the 'unknown' customer. Its pipeline
  totals are NULL where an amount they add up is unknown (docs/source-contracts.md).
-#}
with accounts as (
    select * from {{ ref('stg_salesforce__account') }}
    where not is_deleted
),

opportunities as (
    select * from {{ ref('stg_salesforce__opportunity') }}
    where not is_deleted
),

-- A total is known only when every amount it adds up is: an Amount hidden from Tributary's
-- user (field-level security) or left blank makes it NULL, never 0. With nothing to add up
-- (no open or no won opportunity) it is 0.
pipeline as (
    select
        account_id,
        count(*) as opportunities,
        sum(case when not is_closed then 1 else 0 end) as open_opportunities,
        case
            when count(case when not is_closed then 1 end)
                = count(case when not is_closed then amount end)
                then coalesce(sum(case when not is_closed then amount end), 0)
        end as open_pipeline_amount,
        case
            when count(case when is_won then 1 end) = count(case when is_won then amount end)
                then coalesce(sum(case when is_won then amount end), 0)
        end as won_amount
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
    -- an account without opportunities has no pipeline row: its totals are 0
    cast(case when pipeline.account_id is null then 0 else pipeline.open_pipeline_amount end
        as decimal(18, 2)) as open_pipeline_amount,
    cast(case when pipeline.account_id is null then 0 else pipeline.won_amount end
        as decimal(18, 2)) as won_amount,
    accounts.system_modstamp
from accounts
left join customers
    on accounts.external_id = customers.external_id
left join pipeline
    on accounts.account_id = pipeline.account_id
