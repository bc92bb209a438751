-- The latest run of every asset (and partition), for BI tools: did it load, when, how many
-- rows, and if not, why; for a tenant's partition, the tenant and its status in the registry;
-- for a table refreshed on change, when its source last changed. A view, so it is current as soon as a run is logged.
{{ config(materialized='view') }}

with logged as (
    select
        asset_key,
        partition_key,
        run_id,
        status,
        started_at,
        finished_at,
        rows_loaded,
        error,
        -- The last to finish; a run logged without a finish time (its run record had none)
        -- by when it started, and one without either last. NULLs placed in so many words:
        -- PostgreSQL and Redshift sort them first in a descending order, DuckDB last.
        row_number() over (
            partition by asset_key, partition_key
            order by coalesce(finished_at, started_at) desc nulls last, run_id desc
        ) as recency,
        max(case when status = 'SUCCESS' then finished_at end) over (
            partition by asset_key, partition_key
        ) as last_success_at
    from {{ source('tributary', 'run_log') }}
)

select
    logged.asset_key
    || case when logged.partition_key = '' then '' else '/' || logged.partition_key end
    as load_key,
    logged.asset_key,
    logged.partition_key,
    logged.run_id,
    logged.status,
    logged.started_at,
    logged.finished_at,
    logged.rows_loaded,
    logged.error,
    logged.last_success_at,
    tenants.alias as tenant_alias,
    tenants.status as tenant_status,
    changes.changed_at as source_changed_at
from logged
-- A tenant's partition (partition keys of tenant-scoped assets are tenant ids).
left join {{ source('tributary', 'tenants') }} as tenants
    on logged.partition_key = tenants.tenant_id
-- A raw table observed for changes (refresh: on_change): when its source last changed.
left join {{ source('tributary', 'source_changes') }} as changes
    on logged.asset_key = 'raw/' || changes.source || '/' || changes.table_name
where logged.recency = 1
