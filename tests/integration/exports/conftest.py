"""The real GCS stand-in: gcp-storage-emulator on a free port, in memory, one bucket per test.

gcsfs must not load its experimental HNS file system against the emulator (every bucket check
would stall for a minute), so the switch is set before anything imports gcsfs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest

from tests.conftest import free_port, require_service

os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

EMULATOR = Path(sys.executable).with_name("gcp-storage-emulator")
PROJECT = "tributary-test"


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/storage/v1/b?project={PROJECT}", timeout=1):
            return True
    except OSError:
        return False


def start_emulator(port: int) -> subprocess.Popen:
    """gcp-storage-emulator on `port`, in memory, once it answers (the caller stops it)."""
    if not EMULATOR.exists():
        require_service("gcp-storage-emulator", False)
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(EMULATOR), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not _answers(endpoint) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition with a deadline, not a sleep-as-sync
    if not _answers(endpoint):
        stop_emulator(process)
        require_service(f"gcp-storage-emulator on port {port}", False)
    return process


def stop_emulator(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # it once held on past SIGTERM, at the session's end
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """The emulator's endpoint (http://127.0.0.1:<port>), for the whole session."""
    port = free_port()
    process = start_emulator(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_emulator(process)


@dataclass(frozen=True)
class Bucket:
    url: str  # gs://<bucket>
    name: str
    endpoint: str
    fs: fsspec.AbstractFileSystem  # gcsfs on the emulator, for the test's own checks


@pytest.fixture
def gcs(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket; STORAGE_EMULATOR_HOST points gcsfs and google-cloud-storage at it."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    name = f"tributary-{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("gs", token="anon", project=PROJECT, skip_instance_cache=True)
    fs.mkdir(name)
    return Bucket(url=f"gs://{name}", name=name, endpoint=gcs_emulator, fs=fs)


class Relay:
    """A TCP relay in front of a server, that can go away and come back on the same port: a
    store gone mid-request (its connections reset, new ones refused), whose objects are still
    there when it returns (the emulator's own files are not safe against a kill)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and reset every relayed connection."""
        with self._lock:
            closing = [s for s in (self._listener, *self._sockets) if s is not None]
            self._sockets.clear()
            self._listener = None
        for sock in closing:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(2**16):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
