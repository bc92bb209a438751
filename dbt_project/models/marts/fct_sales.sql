{#- One row per live sales order. An order whose customer the ERP does not know is kept,
    pointing at the 'unknown' customer, never dropped. In a tenant-scoped ERP an order meets
    the customer of its own tenant (_tenant_id; NULL for a table that is not tenant-scoped). -#}
with orders as (
    select * from {{ ref('stg_erp__sales_orders') }}
    where not is_deleted
),

customers as (
    select customer_key, _tenant_id, customer_id from {{ ref('dim_customer') }}
    where customer_id is not null
)

select
    orders.order_id,
    coalesce(customers.customer_key, 'unknown') as customer_key,
    orders.customer_id,
    orders.order_date,
    orders.amount,
    orders.status,
    orders.changed_at,
    orders._tenant_id
from orders
left join customers
    on orders.customer_id = customers.customer_id
    -- NULL-safe, in SQL all three warehouses accept (Redshift has no IS NOT DISTINCT FROM)
    and (
        orders._tenant_id = customers._tenant_id
        or (orders._tenant_id is null and customers._tenant_id is null)
    )
