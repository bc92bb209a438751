"""The sources resource: how the raw assets and the preflight job open a source's reader.

The product opens each source as configured (`tributary.sources.open_source`). It is a
resource so that a deployment can give a source a transport the product does not ship: the
demo's definitions (a dev-only package under demo/, never in the product's wheel) pass a
subclass that reads its Salesforce org from an in-process replay.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from tributary.config.models import SourceConfig
from tributary.sources import SourceReader, open_source


class SourcesResource(dg.ConfigurableResource):
    """Opens the reader of a configured source. Nothing connects until a table is read."""

    def open(self, source: SourceConfig, *, state_dir: Path) -> SourceReader:
        return open_source(source, state_dir=state_dir)
