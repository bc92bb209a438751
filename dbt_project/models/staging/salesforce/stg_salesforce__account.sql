{#- One row per Account Id, the latest by SystemModstamp; deleted accounts kept, flagged. -#}
with latest as (
    {{ latest_row_per_key(source('salesforce', 'account'), 'id', 'systemmodstamp') }}
)

select
    id as account_id,
    name as account_name,
    "type" as account_type,
    industry,
    rating,
    annualrevenue as annual_revenue,
    numberofemployees as number_of_employees,
    billingcity as billing_city,
    billingstate as billing_state,
    billingcountry as billing_country,
    nullif(trim(external_id__c), '') as external_id,
    customer_since__c as customer_since,
    discount__c as discount_percent,
    active__c as is_active,
    parentid as parent_account_id,
    ownerid as owner_id,
    createddate as created_at,
    systemmodstamp as system_modstamp,
    _deleted as is_deleted,
    _load_id
from latest
