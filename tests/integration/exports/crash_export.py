"""Publish the `cases` export for 2024-05-01 to the export store and SIGKILL this process at a
chosen point.

Usage: python -m tests.integration.exports.crash_export <warehouse.duckdb> <store url> <kill point>
Kill points: writing (the first part is written under _tmp/, the next one is being written),
publishing (the old partition is unsealed and the new parts are copied in, before the
manifest and _SUCCESS).
"""

import os
import signal
import sys
from datetime import date
from pathlib import Path

from tests.integration.exports.data import export_cases
from tributary.exports import open_export_store
from tributary.exports.store import _StagedPartition


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(warehouse: str, url: str, kill_point: str) -> None:
    store = open_export_store(url)
    if kill_point == "writing":
        close_file = _StagedPartition._close_file

        def close_then_die(self):
            close_file(self)
            if len(self.files) == 1:  # one part staged, the export still running
                kill()

        _StagedPartition._close_file = close_then_die
    elif kill_point == "publishing":
        copy = store.fs.copy

        def copy_then_die(*args, **kwargs):
            copy(*args, **kwargs)
            kill()

        store.fs.copy = copy_then_die
    export_cases(Path(warehouse), store, date(2024, 5, 1), rows_per_file=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
