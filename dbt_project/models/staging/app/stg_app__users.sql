with latest as (
    {{ latest_row_per_key(source('app', 'users'), 'user_id', 'updated_at') }}
)

select
    user_id,
    company_id,
    email,
    full_name,
    cast(is_active as boolean) as is_active,
    updated_at,
    _deleted as is_deleted
from latest
