{#- One row per Opportunity Id, the latest by SystemModstamp; deleted ones kept, flagged. -#}
with latest as (
    {{ latest_row_per_key(source('salesforce', 'opportunity'), 'id', 'systemmodstamp') }}
)

select
    id as opportunity_id,
    accountid as account_id,
    name as opportunity_name,
    stagename as stage_name,
    amount,
    probability as probability_percent,
    expectedrevenue as expected_revenue,
    closedate as close_date,
    isclosed as is_closed,
    iswon as is_won,
    forecastcategoryname as forecast_category,
    ownerid as owner_id,
    createddate as created_at,
    systemmodstamp as system_modstamp,
    _deleted as is_deleted,
    _load_id
from latest
