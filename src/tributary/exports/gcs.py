"""The export store on Google Cloud Storage: gcsfs with the environment's credentials."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
from collections.abc import AsyncIterator, Callable

import fsspec
from fsspec.asyn import sync

from tributary.exports.formats import ChecksumWriter
from tributary.storage import DEFAULT_TIMEOUTS, Timeouts

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def is_gcs_url(url: str) -> bool:
    return url.startswith(("gs://", "gcs://"))


def gcs_filesystem(
    *, project: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> fsspec.AbstractFileSystem:
    """gcsfs authenticated by application default credentials (GOOGLE_APPLICATION_CREDENTIALS,
    gcloud's login, or the metadata server of GCE/GKE). With STORAGE_EMULATOR_HOST set, gcsfs
    talks to that emulator, anonymously, as google-cloud-storage does.

    A server that accepts connections and never answers fails a request after gcsfs's 6
    attempts of `timeouts.read` each (with its backoff, about 30 s more): without a timeout of
    its own, aiohttp's 5 minutes a request held an export for half an hour."""
    import aiohttp

    options: dict[str, object] = {
        "token": "anon" if os.environ.get(EMULATOR_ENV) else "google_default",
        # A fresh instance: fsspec's cache would keep an endpoint read from an older environment.
        "skip_instance_cache": True,
        "requests_timeout": aiohttp.ClientTimeout(
            sock_connect=timeouts.connect, sock_read=timeouts.read
        ),
    }
    if project:
        options["project"] = project
    return fsspec.filesystem("gs", **options)


def is_gcs_filesystem(fs: fsspec.AbstractFileSystem) -> bool:
    return "gs" in fs.protocol


# A broken upload is sent again whole this many times in all, each in a new upload session,
# after a wait that doubles from this (gcsfs's own requests wait 1, 2, 4 ... s).
UPLOAD_ATTEMPTS = 4
RETRY_WAIT_SECONDS = 1.0
# The body goes to aiohttp in slices of this size: a slice the store takes none of for the read
# timeout is a store that stopped reading (at 256 KB, a link slower than 4 KB/s at the default).
SEND_SLICE_BYTES = 256 * 2**10


class _LengthDiffers(Exception):
    """The object is longer or shorter than stated (its bytes counted to the end)."""


def upload_whole(
    fs: fsspec.AbstractFileSystem,
    path: str,
    size: int,
    read: Callable[[], AsyncIterator[bytes]],
) -> tuple[int, str]:
    """Upload an object of `size` bytes to GCS in one request, its body the chunks `read()`
    yields as they arrive: (bytes, sha256 hex) of what was read. They are read, counted,
    hashed and sent on gcsfs's event loop, with no thread between the source and the request.
    gcsfs's own file sends a request per block and waits for each; a resumable session given
    the whole length in one request keeps the bytes moving, and holds no upload buffer. (A
    single-request "media" upload saves the session's request, but a server may keep the part
    of a broken one: the emulator does.)

    A request that breaks (a dropped connection, a 5xx, a timeout) is sent again whole, from a
    new `read()`, in a new session; opening a session is left to gcsfs's own attempts, so a
    store gone away fails the copy after those (once), not after 4 rounds of them. A source
    whose bytes are not `size` in all ends the request before it completes (nothing is
    written) and the figures say how long it was; the source's own failure is raised as it
    is: its store retries its own requests."""
    return sync(fs.loop, _upload_whole, fs, path, size, read)


async def _upload_whole(fs, path: str, size: int, read: Callable[[], AsyncIterator[bytes]]):
    from gcsfs.core import initiate_upload
    from gcsfs.retry import is_retriable

    bucket, key, _ = fs.split_path(path)
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"  # as gcsfs's
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        # Opening the session is a gcsfs request, which gcsfs tries 6 times itself: its failure
        # is final (tried again here too, a store gone away held the run 4x gcsfs's bound).
        location = await initiate_upload(fs, bucket, key, content_type)
        body = _RequestBody(read(), size)
        try:
            await _put(fs, location, body, size, content_type)
            break
        except Exception as error:
            await body.aclose()
            if isinstance(body.failure, _LengthDiffers):
                break
            if body.failure is not None:
                raise body.failure from None
            if attempt == UPLOAD_ATTEMPTS or not is_retriable(error):
                raise
            await asyncio.sleep(RETRY_WAIT_SECONDS * 2 ** (attempt - 1))
    return body.checksum.bytes, body.checksum.sha256.hexdigest()


async def _put(fs, location: str, body: _RequestBody, size: int, content_type: str) -> None:
    # gcsfs's own session and credentials (private API: gcsfs has no call that streams a body
    # of known length into a session; its `_call` would retry the request with the body spent).
    import aiohttp
    from gcsfs.retry import validate_response

    await fs._set_session()
    headers = fs._get_headers({
        "Content-Type": content_type,
        "Content-Length": str(size),
        "Content-Range": f"bytes 0-{size - 1}/{size}",
    })  # fmt: skip

    async def send() -> None:
        async with fs.session.put(
            location, data=body, headers=headers, timeout=fs.requests_timeout
        ) as response:
            validate_response(response.status, await response.read(), location)

    # aiohttp's sock_read bounds the wait for the answer, not the body's writes: a store that
    # stops reading mid-body (a frozen server, a dead peer behind a live proxy) would hold the
    # request for ever. The same bound holds for the body: a slice it takes none of for
    # `read` seconds ends the request as a timeout (sent again, as a broken one is).
    silence = getattr(fs.requests_timeout, "sock_read", None)
    sending = asyncio.ensure_future(send())
    clock = asyncio.get_running_loop().time
    try:
        while not sending.done():
            await asyncio.wait([sending], timeout=min(1.0, silence / 4) if silence else None)
            since = body.sending_since
            if silence and since is not None and clock() - since > silence:
                raise aiohttp.ServerTimeoutError(
                    f"{location}: the store took none of the upload's bytes for {silence:g} s"
                )
        sending.result()
    finally:
        if not sending.done():
            sending.cancel()  # closes the connection: the session never completes
            await asyncio.gather(sending, return_exceptions=True)


class _RequestBody:
    """One request's body: the chunks as the source yields them, counted and hashed on the way
    (a chunk's hash holds the loop for about 1 ms a MB: less than a thread hop per chunk)."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int) -> None:
        self._chunks, self._size = chunks, size
        self.checksum = ChecksumWriter(None)
        self.failure: BaseException | None = None
        # When aiohttp was handed the slice it is writing (None while the source is read): a
        # write waits for the store to take the bytes.
        self.sending_since: float | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        clock = asyncio.get_running_loop().time
        while True:
            try:
                data = await self._next()
            except Exception as error:  # the source's: aiohttp ends the request with its own
                self.failure = error
                raise
            if data is None:
                return
            view = memoryview(data)  # slices without copies
            for start in range(0, len(view), SEND_SLICE_BYTES):
                self.sending_since = clock()
                yield view[start : start + SEND_SLICE_BYTES]
                self.sending_since = None

    async def _next(self) -> bytes | None:
        data = await anext(self._chunks, None)
        if data is not None:
            self.checksum.write(data)
        if self.checksum.bytes > self._size:
            async for rest in self._chunks:  # counted to the end, for the error to say
                self.checksum.write(rest)
            raise _LengthDiffers
        if data is None and self.checksum.bytes < self._size:
            raise _LengthDiffers
        return data

    async def aclose(self) -> None:
        """Release the source's stream (a generator stopped mid-way holds its response)."""
        with contextlib.suppress(Exception):
            await self._chunks.aclose()
