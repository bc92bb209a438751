{#-
  Salesforce accounts met with ERP customers through the external id both systems carry
  (Account.External_Id__c = customers.external_id). Deleted accounts and opportunities are
  excluded. An account the ERP does not know points at the 'unknown' customer. Its pipeline
  totals are NULL where the amounts are unknown (Amount hidden from Tributary's user), or
  where they would add up amounts of more than one currency (a multi-currency org:
  docs/source-contracts.md).
-#}
with accounts as (
    select * from {{ ref('stg_salesforce__account') }}
    where not is_deleted
),

opportunities as (
    select * from {{ ref('stg_salesforce__opportunity') }}
    where not is_deleted
),

-- An opportunity's blank Amount adds nothing to a total (as Salesforce's reports add it up);
-- but where no opportunity holds one, Amount is hidden from Tributary's user (field-level
-- security) and the totals are unknown: NULL, never 0.
amounts as (
    select count(amount) > 0 as known from opportunities
),

pipeline as (
    select
        account_id,
        count(*) as opportunities,
        sum(case when not is_closed then 1 else 0 end) as open_opportunities,
        sum(case when is_won then 1 else 0 end) as won_opportunities,
        sum(case when not is_closed then coalesce(amount, 0) else 0 end) as open_pipeline_amount,
        sum(case when is_won then coalesce(amount, 0) else 0 end) as won_amount,
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
    -- with nothing to add up (no such opportunity, or none at all: no pipeline row) a total is 0
    cast(case
        when coalesce(pipeline.open_opportunities, 0) = 0 then 0
        when amounts.known and not mixed.mixed then pipeline.open_pipeline_amount
    end as decimal(18, 2)) as open_pipeline_amount,
    cast(case
        when coalesce(pipeline.won_opportunities, 0) = 0 then 0
        when amounts.known and not mixed.mixed then pipeline.won_amount
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
cross join amounts
