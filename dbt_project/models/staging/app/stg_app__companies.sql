{%- set columns = [
    {'name': 'company_id', 'type': 'integer', 'required': true},
    {'name': 'company_name', 'type': 'string'},
    {'name': 'plan', 'type': 'string'},
    {'name': 'created_at', 'type': 'timestamp', 'required': true},
    {'name': '_deleted', 'type': 'boolean'},
] -%}
with fields as (
    select
    {{ staging_columns(source('app', 'companies'), columns, 'app__companies_pass_through_columns') }}
    from {{ source('app', 'companies') }}
),

latest as (
    {{ latest_row_per_key('fields', 'company_id', 'created_at') }}
)

select
    company_id,
    company_name,
    plan,
    created_at,
    _deleted as is_deleted
    {{- pass_through_aliases('app__companies_pass_through_columns') }}
from latest
