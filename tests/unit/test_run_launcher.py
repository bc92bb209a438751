"""The local run launcher's health check goes by whether the run's process still exists."""

from __future__ import annotations

import os
import subprocess
import sys

from tributary.run_launcher import process_alive


def test_a_live_process_is_alive() -> None:
    assert process_alive(os.getpid())


def test_an_exited_process_is_gone_and_so_is_an_unreaped_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: a zombie
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid)
