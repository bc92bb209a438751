{%- set columns = [
    {'name': 'change_id', 'type': 'integer', 'required': true},
    {'name': 'operation', 'type': 'string', 'required': true},
    {'name': 'order_id', 'type': 'integer', 'required': true},
    {'name': 'customer_id', 'type': 'integer', 'required': true},
    {'name': 'order_date', 'type': 'date'},
    {'name': 'amount', 'type': 'decimal(12, 2)', 'required': true},
    {'name': 'status', 'type': 'string'},
    {'name': 'changed_at', 'type': 'timestamp'},
    {'name': '_deleted', 'type': 'boolean'},
    {'name': '_load_id', 'type': 'string'},
    {'name': '_tenant_id', 'type': 'string'},
] -%}
with fields as (
    select
    {{ staging_columns(source('erp', 'sales_orders'), columns, 'erp__sales_orders_pass_through_columns') }}
    from {{ source('erp', 'sales_orders') }}
),

latest as (
    {{ latest_row_per_key('fields', ['_tenant_id', 'order_id'], 'change_id') }}
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
    _load_id,
    -- a tenant-scoped table's tenant (docs/tenants.md); NULL otherwise
    _tenant_id
    {{- pass_through_aliases('erp__sales_orders_pass_through_columns') }}
from latest
