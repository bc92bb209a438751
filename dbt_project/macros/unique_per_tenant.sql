{#-
  A generic test: `column_name` is unique within each tenant (`_tenant_id`; NULL, for a table
  that is not tenant-scoped, is one tenant, so there it is `unique`). A tenant-scoped ERP's
  customer numbers repeat per tenant (docs/tenants.md).
-#}
{% test unique_per_tenant(model, column_name) %}
select _tenant_id, {{ column_name }}, count(*) as rows_of_key
from {{ model }}
where {{ column_name }} is not null
group by _tenant_id, {{ column_name }}
having count(*) > 1
{% endtest %}
