{%- set columns = [
    {'name': 'user_id', 'type': 'integer', 'required': true},
    {'name': 'company_id', 'type': 'integer', 'required': true},
    {'name': 'email', 'type': 'string'},
    {'name': 'full_name', 'type': 'string'},
    {'name': 'is_active', 'type': 'boolean'},
    {'name': 'updated_at', 'type': 'timestamp', 'required': true},
    {'name': '_deleted', 'type': 'boolean'},
] -%}
with fields as (
    select
    {{ staging_columns(source('app', 'users'), columns, 'app__users_pass_through_columns') }}
    from {{ source('app', 'users') }}
),

latest as (
    {{ latest_row_per_key('fields', 'user_id', 'updated_at') }}
)

select
    user_id,
    company_id,
    email,
    full_name,
    cast(is_active as boolean) as is_active,
    updated_at,
    _deleted as is_deleted
    {{- pass_through_aliases('app__users_pass_through_columns') }}
from latest
