{%- set columns = [
    {'name': 'customer_id', 'type': 'integer', 'required': true},
    {'name': 'customer_name', 'type': 'string'},
    {'name': 'city', 'type': 'string'},
    {'name': 'country', 'type': 'string'},
    {'name': 'external_id', 'type': 'string'},
    {'name': 'modified_at', 'type': 'timestamp', 'required': true},
    {'name': '_deleted', 'type': 'boolean'},
    {'name': '_load_id', 'type': 'string'},
    {'name': '_tenant_id', 'type': 'string'},
] -%}
with fields as (
    select
    {{ staging_columns(source('erp', 'customers'), columns, 'erp__customers_pass_through_columns') }}
    from {{ source('erp', 'customers') }}
),

latest as (
    {{ latest_row_per_key('fields', ['_tenant_id', 'customer_id'], 'modified_at') }}
)

select
    customer_id,
    customer_name,
    city,
    country,
    -- As on the Salesforce side (dim_account meets the two on it): a CHAR column lands padded
    -- ('X1' and ten blanks), and a blank reference is none.
    nullif(trim(external_id), '') as external_id,
    modified_at,
    _deleted as is_deleted,
    _load_id,
    -- a tenant-scoped table's tenant (docs/tenants.md); NULL otherwise
    _tenant_id
    {{- pass_through_aliases('erp__customers_pass_through_columns') }}
from latest
