"""The pool Arrow's buffers come from in a Tributary process (tributary/__init__.py): jemalloc,
whose peak a load stays under (bench/README.md), unless the environment names another pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# What a code server or a run does first: import Tributary, then anything that uses Arrow.
PROBE = "import tributary.ingest, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def backend(**environment: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env | environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="pyarrow's Linux wheels carry jemalloc")
def test_a_tributary_process_takes_arrow_buffers_from_jemalloc() -> None:
    assert backend() == "jemalloc"


def test_the_pool_the_environment_names_is_kept() -> None:
    assert backend(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
    assert backend(ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"
