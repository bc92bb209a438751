"""Publishing warehouse query results to the export store (a local folder or gs://)."""

from tributary.exports.formats import FileFormat
from tributary.exports.run import ExportOutcome, run_export
from tributary.exports.store import (
    ExportError,
    ExportManifest,
    ExportStore,
    Publication,
    open_export_store,
)

__all__ = [
    "ExportError",
    "ExportManifest",
    "ExportOutcome",
    "ExportStore",
    "FileFormat",
    "Publication",
    "open_export_store",
    "run_export",
]
