{#- One row per live sales order. An order whose customer the ERP does not know is kept,
    pointing at the 'unknown' customer, never dropped. -#}
with orders as (
    select * from {{ ref('stg_erp__sales_orders') }}
    where not is_deleted
),

customers as (
    select customer_key, customer_id from {{ ref('dim_customer') }}
    where customer_id is not null
)

select
    orders.order_id,
    coalesce(customers.customer_key, 'unknown') as customer_key,
    orders.customer_id,
    orders.order_date,
    orders.amount,
    orders.status,
    orders.changed_at
from orders
left join customers
    on orders.customer_id = customers.customer_id
