{#-
  One row per Account Id, the latest by SystemModstamp; deleted accounts kept, flagged.
  Fields an org hides (field-level security) or lacks are NULL; the demo org's custom fields
  are named by vars (dbt_project.yml), extra ones carried by salesforce__account_pass_through_columns.
  currency_iso_code: the currency of the account's amounts in a multi-currency org; NULL in a
  single-currency org (no CurrencyIsoCode field), whose amounts are all in the org's currency.
-#}
{%- set columns = [
    {'name': 'id', 'type': 'string', 'required': true},
    {'name': 'name', 'type': 'string'},
    {'name': 'type', 'type': 'string'},
    {'name': 'industry', 'type': 'string'},
    {'name': 'rating', 'type': 'string'},
    {'name': 'annualrevenue', 'type': 'numeric'},
    {'name': 'currencyisocode', 'type': 'string'},
    {'name': 'numberofemployees', 'type': 'integer'},
    {'name': 'billingcity', 'type': 'string'},
    {'name': 'billingstate', 'type': 'string'},
    {'name': 'billingcountry', 'type': 'string'},
    {'name': var('salesforce__account_external_id_field'), 'alias': 'external_id', 'type': 'string'},
    {'name': var('salesforce__account_customer_since_field'), 'alias': 'customer_since', 'type': 'date'},
    {'name': var('salesforce__account_discount_field'), 'alias': 'discount', 'type': 'numeric'},
    {'name': var('salesforce__account_active_field'), 'alias': 'active', 'type': 'boolean'},
    {'name': 'parentid', 'type': 'string'},
    {'name': 'ownerid', 'type': 'string'},
    {'name': 'createddate', 'type': 'timestamptz'},
    {'name': 'systemmodstamp', 'type': 'timestamptz', 'required': true},
    {'name': '_deleted', 'type': 'boolean'},
    {'name': '_load_id', 'type': 'string'},
] -%}
with fields as (
    select
    {{ staging_columns(source('salesforce', 'account'), columns, 'salesforce__account_pass_through_columns') }}
    from {{ source('salesforce', 'account') }}
),

latest as (
    {{ latest_row_per_key('fields', 'id', 'systemmodstamp') }}
)

select
    id as account_id,
    name as account_name,
    "type" as account_type,
    industry,
    rating,
    annualrevenue as annual_revenue,
    currencyisocode as currency_iso_code,
    numberofemployees as number_of_employees,
    billingcity as billing_city,
    billingstate as billing_state,
    billingcountry as billing_country,
    nullif(trim(external_id), '') as external_id,
    customer_since,
    discount as discount_percent,
    active as is_active,
    parentid as parent_account_id,
    ownerid as owner_id,
    createddate as created_at,
    systemmodstamp as system_modstamp,
    _deleted as is_deleted,
    _load_id
    {{- pass_through_aliases('salesforce__account_pass_through_columns') }}
from latest
