"""A source read's child process (sources/read_process.py) dies with the run's process: a run
worker killed outright (out of memory, SIGKILL) left it running its query, re-parented to init,
and a rerun ran a second copy of an hour-long query beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

PARENT = """
import sys, time
from tributary.sources.read_process import ReadProcess
read = ReadProcess(sys.argv[1], "select sleep(30) as s", 10, {})
print(read._process.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_read_child_dies_with_the_run_process(mariadb) -> None:
    url, _ = mariadb
    connection = url.set(drivername="mysql").render_as_string(hide_password=False)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, connection], stdout=subprocess.PIPE, env=os.environ
    )
    try:
        child = int(parent.stdout.readline())
        time.sleep(1)  # its query under way
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        parent.kill()
