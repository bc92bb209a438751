with latest as (
    {{ latest_row_per_key(source('ops', 'products'), 'product_id', '_extracted_at') }}
)

select
    product_id,
    sku,
    product_name,
    cast(unit_price as decimal(10, 2)) as unit_price,
    _deleted as is_deleted
from latest
