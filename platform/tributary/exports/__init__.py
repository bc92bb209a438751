"""Publishing warehouse query results to object storage."""

from tributary.exports.store import ExportManifest, ExportStore, Publication

__all__ = ["ExportManifest", "ExportStore", "Publication"]
