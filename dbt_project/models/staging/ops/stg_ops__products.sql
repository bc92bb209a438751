{%- set columns = [
    {'name': 'product_id', 'type': 'integer', 'required': true},
    {'name': 'sku', 'type': 'string', 'required': true},
    {'name': 'product_name', 'type': 'string'},
    {'name': 'unit_price', 'type': 'decimal(10, 2)'},
    {'name': '_deleted', 'type': 'boolean'},
    {'name': '_extracted_at', 'type': 'timestamptz'},
] -%}
with fields as (
    select
    {{ staging_columns(source('ops', 'products'), columns, 'ops__products_pass_through_columns') }}
    from {{ source('ops', 'products') }}
),

latest as (
    {{ latest_row_per_key('fields', 'product_id', '_extracted_at') }}
)

select
    product_id,
    sku,
    product_name,
    cast(unit_price as decimal(10, 2)) as unit_price,
    _deleted as is_deleted
    {{- pass_through_aliases('ops__products_pass_through_columns') }}
from latest
