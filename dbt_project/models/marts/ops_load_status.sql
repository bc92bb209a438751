-- The latest run of every asset (and partition), for BI tools: did it load, when, how many
-- rows, and if not, why. A view, so it is current as soon as a run is logged.
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
        row_number() over (
            partition by asset_key, partition_key order by finished_at desc, run_id desc
        ) as recency,
        max(case when status = 'SUCCESS' then finished_at end) over (
            partition by asset_key, partition_key
        ) as last_success_at
    from {{ source('tributary', 'run_log') }}
)

select
    asset_key || case when partition_key = '' then '' else '/' || partition_key end as load_key,
    asset_key,
    partition_key,
    run_id,
    status,
    started_at,
    finished_at,
    rows_loaded,
    error,
    last_success_at
from logged
where recency = 1
