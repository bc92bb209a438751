"""The landing store: each load's Parquet parts and manifest, the audit trail and unit of replay."""

from tributary.landing.manifest import (
    CursorRange,
    LandedFile,
    Manifest,
    ManifestPromise,
    cursor_type_name,
    cursor_value_as,
    decode_cursor,
    encode_cursor,
)
from tributary.landing.retention import Cleanup, LoadReferences, Retention
from tributary.landing.store import COPY_MANIFEST, LandingStore

__all__ = [
    "COPY_MANIFEST",
    "Cleanup",
    "CursorRange",
    "LandedFile",
    "LandingStore",
    "LoadReferences",
    "Manifest",
    "ManifestPromise",
    "Retention",
    "cursor_type_name",
    "cursor_value_as",
    "decode_cursor",
    "encode_cursor",
]
