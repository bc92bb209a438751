{#-
  Salesforce accounts met with ERP customers through the external id both systems carry
  (Account.External_Id__c = customers.external_id). Deleted accounts and opportunities are
  excluded. An account the ERP does not know points at the 'unknown' customer. Its pipeline
  totals are NULL where an amount they add up is unknown, or where they would add up amounts
  of more than one currency (a multi-currency org: docs/source-contracts.md).
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
        end as won_amount,
        -- The currencies of the amounts the totals add up (open and won opportunities'),
        -- NULL in a single-currency org.
        count(distinct case when not is_closed or is_won then currency_iso_code end)
            as currencies,
        min(case when not is_closed or is_won then currency_iso_code end) as currency,
        count(case when (not is_closed or is_won) and currency_iso_code is null then 1 end)
            as without_currency
    from opportunities
    group by account_id
),

-- Totals that would add up amounts of different currencies are not published: more than one
-- currency, or in a multi-currency org (the account has a CurrencyIsoCode) an opportunity of
-- none (Opportunity's CurrencyIsoCode not loaded: the shipped `fields:` lack it).
mixed as (
    select
        pipeline.account_id,
        pipeline.currencies > 1
        or (pipeline.without_currency > 0 and accounts.currency_iso_code is not null) as mixed
    from pipeline
    inner join accounts
        on pipeline.account_id = accounts.account_id
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
    accounts.currency_iso_code as annual_revenue_currency,
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
    cast(case
        when pipeline.account_id is null then 0
        when not mixed.mixed then pipeline.open_pipeline_amount
    end as decimal(18, 2)) as open_pipeline_amount,
    cast(case
        when pipeline.account_id is null then 0
        when not mixed.mixed then pipeline.won_amount
    end as decimal(18, 2)) as won_amount,
    case when not mixed.mixed then pipeline.currency end as pipeline_currency,
    accounts.system_modstamp
from accounts
left join customers
    on accounts.external_id = customers.external_id
left join pipeline
    on accounts.account_id = pipeline.account_id
left join mixed
    on accounts.account_id = mixed.account_id
