with latest as (
    {{ latest_row_per_key(source('erp', 'customers'), 'customer_id', 'modified_at') }}
)

select
    customer_id,
    customer_name,
    city,
    country,
    external_id,
    modified_at,
    _deleted as is_deleted,
    _load_id
from latest
