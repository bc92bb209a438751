"""Object stores and local folders behind one file-system interface (fsspec)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from tributary.config.common import DEFAULT_CONNECT_TIMEOUT

DEFAULT_READ_TIMEOUT = 60.0  # botocore's own
S3_ATTEMPTS = 3  # botocore's, per request (its standard retry mode: throttling, 5xx, timeouts)
S3FS_ATTEMPTS = 2  # s3fs's, around botocore's (it also retries a body broken while read)


@dataclass(frozen=True)
class Timeouts:
    """Seconds one request to an object store waits for the server to accept a connection, and
    then for its next bytes: the longest silence, not the request's whole time."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


DEFAULT_TIMEOUTS = Timeouts()


def open_filesystem(
    url: str, fs: fsspec.AbstractFileSystem | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system for `url` (a folder, s3://, gs://) and the root path within it.
    A file system passed in (configured credentials, an emulator endpoint) is used as is."""
    if fs is None:
        fs, root = url_to_fs(url)
    else:
        root = fs._strip_protocol(url)
    return fs, root.rstrip("/")


def s3_filesystem(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    key: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> fsspec.AbstractFileSystem:
    """S3 (or an S3-compatible server). Credentials left None come from boto's own chain:
    AWS_* environment variables, a profile, an instance or pod role.

    A server that accepts connections and never answers fails a request after at most
    S3_ATTEMPTS x S3FS_ATTEMPTS waits of `timeouts.read`: botocore's and s3fs's defaults (5 x 5
    of 60 s) held a load for 25 minutes. A read timeout is the longest silence between two
    bytes, not a request's whole time: S3 keeps a slow CompleteMultipartUpload's connection
    alive with whitespace.

    Uploads go without `Expect: 100-continue` (botocore adds it to every upload of a file-like
    body): aiohttp waits for the server's "100 Continue" with no timeout at all, so an upload
    to a server that never answered waited for ever (a load's parts, `tributary check`'s probe
    still waiting after 10 minutes) where a read failed in 6 waits."""
    import s3fs

    fs = s3fs.S3FileSystem(
        session=_aws_session(profile),
        key=key,
        secret=secret,
        token=token,
        endpoint_url=endpoint_url,
        client_kwargs={"region_name": region} if region else {},
        config_kwargs={
            "connect_timeout": timeouts.connect,
            "read_timeout": timeouts.read,
            "retries": {"mode": "standard", "max_attempts": S3_ATTEMPTS},
        },
    )
    fs.retries = S3FS_ATTEMPTS  # a class attribute, not an argument
    return fs


@cache
def _aws_session(profile: str | None):
    """One session per profile (s3fs makes its own from `profile` only when given none), so
    that fsspec's cache of filesystems still finds an instance made with the same settings."""
    from aiobotocore.session import AioSession
    from botocore.handlers import add_expect_header

    session = AioSession(profile=profile)
    session.unregister("before-call.s3", add_expect_header)
    return session


def make_folder(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """`path` as a folder, where the filesystem has folders (a local one). An object store has
    none, and s3fs's and gcsfs's makedirs create the bucket when it is missing: until
    2026-12-07 a mistyped landing bucket became a new bucket, where the loads then landed,
    instead of an error naming it."""
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(path, exist_ok=True)


PROBE_PREFIX = "_preflight"


def writable_problems(path: Path | str, *, folder: bool = False) -> list[str]:
    """Why this process could not write `path` (a file, or with `folder` a folder), found from
    permissions alone: a path that does not exist yet needs its nearest existing folder
    writable."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        # a file's own permissions said nothing of the folders to be made under it
        return [f"{path}: a file, not a folder"]
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        return [f"{path}: {existing} is not a folder"]
    if not os.access(existing, os.W_OK | (os.X_OK if existing.is_dir() else 0)):
        return [f"{path}: {existing} is not writable by this user"]
    return []


def probe_write(fs: fsspec.AbstractFileSystem, root: str) -> str:
    """Write an empty object under <root>/_preflight/ and delete it at once: the one reliable
    test of an object store's write access (bucket policies, roles and keys all play a part).
    Returns the probe's path; raises what the store raised."""
    path = f"{root}/{PROBE_PREFIX}/{uuid.uuid4().hex}"
    fs.pipe_file(path, b"")
    fs.rm_file(path)
    return path
