{#-
  One row per Opportunity Id, the latest by SystemModstamp; deleted ones kept, flagged.
  Fields an org hides (field-level security) or lacks are NULL (a hidden Amount too: dim_account
  then publishes its totals as NULL, unknown), except those dim_account's totals cannot do
  without (AccountId, IsClosed, IsWon), which fail the model; extra ones are carried by
  salesforce__opportunity_pass_through_columns. currency_iso_code: the currency of amount and
  expected_revenue in a multi-currency org; NULL in a single-currency org or where the table's
  `fields:` do not list CurrencyIsoCode.
-#}
{%- set columns = [
    {'name': 'id', 'type': 'string', 'required': true},
    {'name': 'accountid', 'type': 'string', 'required': true},
    {'name': 'name', 'type': 'string'},
    {'name': 'stagename', 'type': 'string'},
    {'name': 'amount', 'type': 'numeric'},
    {'name': 'currencyisocode', 'type': 'string'},
    {'name': 'probability', 'type': 'numeric'},
    {'name': 'expectedrevenue', 'type': 'numeric'},
    {'name': 'closedate', 'type': 'date'},
    {'name': 'isclosed', 'type': 'boolean', 'required': true},
    {'name': 'iswon', 'type': 'boolean', 'required': true},
    {'name': 'forecastcategoryname', 'type': 'string'},
    {'name': 'ownerid', 'type': 'string'},
    {'name': 'createddate', 'type': 'timestamptz'},
    {'name': 'systemmodstamp', 'type': 'timestamptz', 'required': true},
    {'name': '_deleted', 'type': 'boolean'},
    {'name': '_load_id', 'type': 'string'},
] -%}
with fields as (
    select
    {{ staging_columns(source('salesforce', 'opportunity'), columns, 'salesforce__opportunity_pass_through_columns') }}
    from {{ source('salesforce', 'opportunity') }}
),

latest as (
    {{ latest_row_per_key('fields', 'id', 'systemmodstamp') }}
)

select
    id as opportunity_id,
    accountid as account_id,
    name as opportunity_name,
    stagename as stage_name,
    amount,
    currencyisocode as currency_iso_code,
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
    {{- pass_through_aliases('salesforce__opportunity_pass_through_columns') }}
from latest
