"""Tributary: operational sources -> warehouse -> dbt -> object-storage exports."""

import os
import sys

# Arrow's buffers from jemalloc, unless the environment names another pool. With pyarrow's
# default on Linux, mimalloc, a PostgreSQL load peaked 30-65 MB higher at 2,000,000 rows and
# about 60 MB higher at 8,000,000, in the same time (docs/loads.md, "Arrow's memory pool").
# Set before pyarrow chooses its pool; Linux wheels carry jemalloc (elsewhere Arrow would
# warn and keep its default).
if sys.platform == "linux":
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
