"""Export `cases` from Redshift (played on PostgreSQL and the S3 server) for 2024-05-01 and
SIGKILL this process once the first unloaded part is copied into the export store's attempt.

Usage: python -m tests.integration.exports.crash_unload <conninfo> <s3 endpoint> <landing url>
<store url>. The S3 credentials and the GCS emulator come from the environment.
"""

import os
import signal
import sys
from datetime import date

from tests.integration.exports.data import export_cases_from_redshift
from tributary.exports import open_export_store, store
from tributary.landing import LandingStore
from tributary.storage import s3_filesystem


def main(conninfo: str, endpoint: str, landing_url: str, store_url: str) -> None:
    copy = store.copy_object

    def copy_then_die(*args, **kwargs):
        copy(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # mid-copy: one part in the attempt, more to go

    store.copy_object = copy_then_die
    landing = LandingStore(landing_url, fs=s3_filesystem(endpoint_url=endpoint))
    export_cases_from_redshift(conninfo, landing, open_export_store(store_url), date(2024, 5, 1))


if __name__ == "__main__":
    main(*sys.argv[1:])
