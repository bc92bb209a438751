"""Copying an object of known size into GCS (the emulator): one upload request per object,
sent again whole, in a new upload session, after the request broke; the source's own failure
or a length other than stated ends the copy at once, with nothing written."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import socket
import threading
import time
import uuid

import aiohttp
import fsspec
import gcsfs.core
import gcsfs.retry
import pytest
from fsspec.exceptions import FSTimeoutError

from tests.conftest import free_port
from tributary.errors import ExportError
from tributary.exports import gcs as gcs_module
from tributary.exports import store as store_module
from tributary.exports.formats import FileFormat
from tributary.exports.gcs import gcs_filesystem
from tributary.exports.store import ExportStore
from tributary.storage import Timeouts
from tributary.warehouse.unload import UnloadedFile

from .conftest import start_emulator, stop_emulator

CHUNK = 2**18  # gcsfs's least block: its own file would send one request per chunk
DATA = bytes(range(256)) * (3 * CHUNK // 256 + 100)  # three whole chunks and a bit


@pytest.fixture
def source(tmp_path) -> tuple[fsspec.AbstractFileSystem, str]:
    path = tmp_path / "part-0000.parquet"
    path.write_bytes(DATA)
    return fsspec.filesystem("file"), str(path)


def copy(source, bucket, *, size: int = len(DATA)) -> tuple[str, tuple[int, str]]:
    target = f"{bucket.name}/copy-{uuid.uuid4().hex}.parquet"
    fs, path = source
    copied = store_module.copy_object(fs, path, bucket.fs, target, size=size, chunk_bytes=CHUNK)
    return target, copied


def test_an_object_of_known_size_is_uploaded_in_one_request(gcs, source, monkeypatch) -> None:
    sent: list[str] = []  # the requests that carry the object's bytes (to the upload session)
    request = aiohttp.ClientSession._request

    async def recorded(session, method, url, *args, **kwargs):
        if "upload_id=" in str(url):
            sent.append(method)
        return await request(session, method, url, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", recorded)
    target, copied = copy(source, gcs)
    assert copied == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert gcs.fs.cat_file(target) == DATA
    assert sent == ["PUT"]  # gcsfs's own file sends a request per block
    assert gcs.fs.info(target)["contentType"] == "application/octet-stream"


class HangUp:
    """A server that reads the start of a request and closes the connection: an upload that
    broke midway."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/upload"

    def _serve(self) -> None:
        with contextlib.closing(self.server):
            connection, _ = self.server.accept()
            with connection:
                while self.received < len(DATA) // 2:
                    self.received += len(connection.recv(CHUNK))


def test_an_upload_the_server_broke_is_sent_again_whole_in_a_new_session(
    gcs, source, monkeypatch
) -> None:
    hang_up = HangUp()
    sessions: list[str] = []
    initiate_upload = gcsfs.core.initiate_upload

    async def first_one_breaks(fs, bucket, key, *args, **kwargs):
        sessions.append(key)
        if len(sessions) == 1:
            return hang_up.url
        return await initiate_upload(fs, bucket, key, *args, **kwargs)

    monkeypatch.setattr(gcsfs.core, "initiate_upload", first_one_breaks)
    monkeypatch.setattr(gcs_module, "RETRY_WAIT_SECONDS", 0.01)
    target, copied = copy(source, gcs)
    assert hang_up.received >= len(DATA) // 2  # the first request was under way
    assert len(sessions) == 2
    # Counted and hashed once: the broken request's bytes are not in the figures.
    assert copied == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert gcs.fs.cat_file(target) == DATA


def test_the_sources_own_failure_ends_the_copy_at_once(gcs, source, monkeypatch) -> None:
    reads: list[str] = []

    async def failing(fs, path, chunk_bytes):
        reads.append(path)
        yield DATA[:CHUNK]
        raise PermissionError(f"{path}: access denied")

    monkeypatch.setattr(store_module, "stream_chunks", failing)
    with pytest.raises(PermissionError, match="access denied"):
        copy(source, gcs)
    assert len(reads) == 1  # not retried: the source's store retries its own requests
    gcs.fs.invalidate_cache()
    assert gcs.fs.find(gcs.name) == []


@pytest.mark.parametrize("stated", [len(DATA) - 5, len(DATA) + 5, 2 * len(DATA)])
def test_an_object_longer_or_shorter_than_stated_publishes_nothing(gcs, source, stated) -> None:
    fs, path = source
    store = ExportStore(f"{gcs.url}/lake", fs=gcs.fs)
    unloaded = UnloadedFile(url=path, rows=10, bytes=stated)
    with pytest.raises(ExportError, match=f"holds {len(DATA)} bytes, its writer stated {stated}"):
        store.publish_files(
            [unloaded], fs=fs, export="orders", partition="dt=2024-05-01", asset="export/orders",
            file_format=FileFormat(), columns=[],
        )  # fmt: skip
    gcs.fs.invalidate_cache()
    assert gcs.fs.find(gcs.name) == []  # neither the partition nor an object in the attempt


def test_a_store_gone_mid_upload_fails_after_gcsfs_own_attempts_of_one_session(
    tmp_path, monkeypatch
) -> None:
    """The emulator killed while a part's request is under way. Opening a new upload session
    is a gcsfs request, which gcsfs itself tries 6 times: the upload must not try it again on
    top. Before, each of the upload's 3 further attempts opened its session 6 times (18
    requests): 4x gcsfs's bound, 2 min 20 s here at gcsfs's own waits (now about 35 s).
    gcsfs's waits are cut short here so the test is quick; the count is the point."""
    port = free_port()
    emulator = start_emulator(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        fs = gcs_filesystem(timeouts=Timeouts(connect=1, read=5))
        fs.mkdir("gone")
        path = tmp_path / "part-0000.parquet"
        path.write_bytes(DATA)

        read = gcs_module._RequestBody._next

        async def kill_mid_request(body):  # once the first chunk went into the request
            data = await read(body)
            if body.checksum.bytes > CHUNK and emulator.poll() is None:
                emulator.kill()
                emulator.wait()
            return data

        sessions = 0
        request = aiohttp.ClientSession._request

        async def counted(session, method, url, *args, **kwargs):
            nonlocal sessions
            opens = method == "POST" and "/upload/" in str(url)
            sessions += opens and emulator.poll() is not None
            return await request(session, method, url, *args, **kwargs)

        sleep = asyncio.sleep

        async def quick(seconds):  # gcsfs's backoff (1, 2, 4 ... s) and the upload's, / 50
            await sleep(seconds / 50)

        monkeypatch.setattr(gcs_module._RequestBody, "_next", kill_mid_request)
        monkeypatch.setattr(aiohttp.ClientSession, "_request", counted)
        monkeypatch.setattr(gcsfs.retry.asyncio, "sleep", quick)
        with pytest.raises(aiohttp.ClientConnectorError):
            store_module.copy_object(
                fsspec.filesystem("file"), str(path), fs, "gone/part-00000.parquet",
                size=len(DATA), chunk_bytes=CHUNK,
            )  # fmt: skip
        assert sessions == 6  # one new session, tried by gcsfs's own 6 attempts
    finally:
        if emulator.poll() is None:
            stop_emulator(emulator)


def test_a_store_that_stops_reading_mid_upload_fails_within_the_read_timeout(
    tmp_path, monkeypatch
) -> None:
    """The emulator frozen (SIGSTOP) while a part's body is being sent: the server accepts no
    more bytes, and aiohttp's `sock_read` bounds only the wait for the answer, not a body's
    write. Before, the copy waited for ever (a probe left it 7 minutes with a read timeout of
    2 s); now a body the store takes nothing of for `read_timeout` ends the request, and the
    copy fails as any request to a silent store does (gcsfs's waits cut short here)."""
    port = free_port()
    emulator = start_emulator(port)
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
        fs = gcs_filesystem(timeouts=Timeouts(connect=1, read=1))
        fs.mkdir("frozen")
        big = bytes(range(256)) * (24 * 2**20 // 256)  # more than the sockets' buffers hold
        path = tmp_path / "part-0000.parquet"
        path.write_bytes(big)

        read = gcs_module._RequestBody._next
        frozen = threading.Event()

        async def freeze_mid_request(body):
            data = await read(body)
            if body.checksum.bytes > 2**20 and not frozen.is_set():
                frozen.set()
                emulator.send_signal(signal.SIGSTOP)
            return data

        sleep = asyncio.sleep

        async def quick(seconds):  # gcsfs's backoff (1, 2, 4 ... s) and the upload's, / 50
            await sleep(seconds / 50)

        monkeypatch.setattr(gcs_module._RequestBody, "_next", freeze_mid_request)
        monkeypatch.setattr(gcsfs.retry.asyncio, "sleep", quick)
        outcome: list[BaseException | tuple] = []

        def copy_big() -> None:
            local = fsspec.filesystem("file")
            target = "frozen/part-00000.parquet"
            try:
                copied = store_module.copy_object(
                    local, str(path), fs, target, size=len(big), chunk_bytes=2**20
                )
                outcome.append(copied)
            except BaseException as error:
                outcome.append(error)

        started = time.monotonic()
        copying = threading.Thread(target=copy_big, daemon=True)
        copying.start()
        copying.join(timeout=60)
        elapsed = time.monotonic() - started
        assert frozen.is_set()
        assert not copying.is_alive(), "the copy still waits on a store that reads nothing"
        [error] = outcome
        assert isinstance(error, FSTimeoutError), repr(error)  # "did not answer" (answering)
        # 4 sends of ~1 s of silence each, then a session gcsfs could not open (6 x 1 s)
        assert elapsed < 30
    finally:
        emulator.send_signal(signal.SIGCONT)
        stop_emulator(emulator)
