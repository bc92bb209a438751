"""Object stores and local folders behind one file-system interface (fsspec)."""

from __future__ import annotations

import fsspec
from fsspec.core import url_to_fs


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
) -> fsspec.AbstractFileSystem:
    """S3 (or an S3-compatible server). Credentials left None come from boto's own chain:
    AWS_* environment variables, a profile, an instance or pod role."""
    import s3fs

    return s3fs.S3FileSystem(
        key=key,
        secret=secret,
        token=token,
        profile=profile,
        endpoint_url=endpoint_url,
        client_kwargs={"region_name": region} if region else {},
    )
