"""A connectorx read in a process of its own, its rows streamed back as Arrow IPC.

Why: connectorx holds the GIL while it waits for the server's next rows (its stream's
`__next__` is native code that never releases it). A query that takes an hour froze every
thread of the process for that hour: Dagster's termination thread could not run, so the code
server's cancel request (a multiprocessing Event it sets, which waits for that thread to wake)
timed out after 60 s and the run went on until the query returned. Read in a child process, the
wait is a pipe read that releases the GIL; the batches reach the caller through a queue, whose
wait the main thread's interrupt breaks; and stopping the read kills the child, which closes
its connection (the server ends the query when it next sends a row).

Run as a script (by path, so that the child imports pyarrow and connectorx only): the request
comes on stdin as JSON (the connection string carries the password: never on the command
line), the rows go to stdout, a failure's message to stderr with a non-zero exit.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

# Batches the pump holds for the caller; the pipe and the child hold the rest.
QUEUED_BATCHES = 2
# Precedes the child's error message on stderr: a Rust panic prints its own lines before it.
ERROR_MARK = "\n--tributary-read-error--\n"
# prctl's option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
# How long a child whose stream broke is given to exit with its own message.
EXIT_WAIT = 5.0
# Every read under way in this process, for stop_all().
_LIVE: weakref.WeakSet[ReadProcess] = weakref.WeakSet()


def stop_all() -> None:
    """Stops every read under way in this process: for an interrupt (Terminate), which ends
    the run, while a thread other than the one interrupted waits on a read's rows."""
    for read in list(_LIVE):
        read.stop()


class ReadProcess:
    """`connectorx.read_sql(connection, query, return_type="arrow_stream", ...)` in a child
    process. `reader()` waits for the schema; its batches stream as the child sends them; the
    child is killed by `stop()`, when the batches' iteration ends early, or when this object
    is garbage collected."""

    def __init__(self, connection: str, query: str, batch_size: int, options: dict[str, Any]):
        self._process = subprocess.Popen(
            # -P: not this file's folder on sys.path (its types.py would shadow the stdlib's)
            [sys.executable, "-P", __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        request = {
            "connection": connection,
            "query": query,
            "batch_size": batch_size,
            "parent": os.getpid(),
        }
        self._process.stdin.write(json.dumps({**request, "options": options}).encode())
        self._process.stdin.close()
        self._items: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self._stopped = threading.Event()
        # The pump holds the process, the queue and the event, not this object: a read never
        # iterated (its extract dropped) is collected, and its child killed.
        pump = _Pump(self._process, self._items, self._stopped)
        threading.Thread(target=pump.run, name="read-process", daemon=True).start()
        weakref.finalize(self, _stop, self._process, self._stopped)
        _LIVE.add(self)

    def reader(self) -> pa.RecordBatchReader:
        kind, value = self._items.get()
        if kind != "schema":
            self.stop()
            raise value
        return pa.RecordBatchReader.from_batches(value, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                kind, value = self._items.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            self.stop()

    def stop(self) -> None:
        """Ends the read now: the child (and with it its connection) is killed."""
        _stop(self._process, self._stopped)


class _Pump:
    """Moves the child's batches into the queue, then its end or its failure."""

    def __init__(
        self, process: subprocess.Popen, items: queue.Queue, stopped: threading.Event
    ) -> None:
        self._process, self._items, self._stopped = process, items, stopped

    def run(self) -> None:
        try:
            with pa.ipc.open_stream(self._process.stdout) as stream:
                self._put(("schema", stream.schema))
                for batch in stream:
                    self._put(("batch", batch))
            failure = self._failure()
            self._put(("error", failure) if failure else ("end", None))
        except BaseException as exc:  # a broken stream: the child's own message says why
            try:  # a child that failed exits at once; one still writing, the fault is here
                self._process.wait(timeout=EXIT_WAIT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                self._put(("error", exc))
                return
            self._put(("error", self._failure() or exc))

    def _failure(self) -> RuntimeError | None:
        """The child's error (connectorx's RuntimeError message), once it has exited."""
        # Its stderr read to the end first: a child blocked writing a long one (a panic's
        # backtrace past the pipe's 64 KB) would never exit.
        said = self._process.stderr.read().decode(errors="replace")
        code = self._process.wait()
        if code == 0:
            return None
        if self._stopped.is_set():
            return RuntimeError("the read was stopped")
        message = said.rsplit(ERROR_MARK, 1)[-1].strip()
        return RuntimeError(message or f"the read process exited with code {code}")

    def _put(self, item: tuple) -> None:
        # Never blocks for good: once stopped, nobody takes what is left.
        while not self._stopped.is_set():
            try:
                self._items.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def _stop(process: subprocess.Popen, stopped: threading.Event) -> None:
    stopped.set()
    if process.poll() is None:
        process.kill()  # its pipe ends: the pump's read returns
        process.wait()


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the run's process dies (out of memory, a
    SIGKILL), which closes its connection; else it ran its query on, re-parented to init, and a
    rerun ran a second copy beside it. Tied to the thread that started it, which ingest_table
    holds for the whole load. Elsewhere, nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the tie was made
        os._exit(1)


def _child() -> int:
    request = json.loads(sys.stdin.buffer.read())
    _die_with_parent(request["parent"])
    import connectorx

    try:
        reader = connectorx.read_sql(
            request["connection"],
            request["query"],
            return_type="arrow_stream",
            batch_size=request["batch_size"],
            **request["options"],
        )
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    except BrokenPipeError:
        return 1  # the parent stopped reading
    except BaseException as exc:  # connectorx's RuntimeError, or a Rust panic
        sys.stderr.write(ERROR_MARK + str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child())
