with latest as (
    {{ latest_row_per_key(source('erp', 'sales_orders'), 'order_id', 'change_id') }}
)

select
    order_id,
    customer_id,
    cast(order_date as date) as order_date,
    cast(amount as decimal(12, 2)) as amount,
    status,
    changed_at,
    change_id as last_change_id,
    (operation = 'D' or _deleted) as is_deleted,
    _load_id
from latest
