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
        root = url
    return fs, root.rstrip("/")
