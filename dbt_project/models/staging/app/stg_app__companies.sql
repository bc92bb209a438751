with latest as (
    {{ latest_row_per_key(source('app', 'companies'), 'company_id', 'created_at') }}
)

select
    company_id,
    company_name,
    plan,
    created_at,
    _deleted as is_deleted
from latest
