"""The demo's sources resource: the product's, except that a Salesforce source reads the demo
org from its in-process replay, whatever credentials the environment holds."""

from __future__ import annotations

from pathlib import Path

from tributary.config.models import SourceConfig
from tributary.defs.sources import SourcesResource
from tributary.sources import SourceReader
from tributary.sources.salesforce import SalesforceSource
from tributary_demo.salesforce import REPLAY_LOGIN, replay_session


class ReplaySources(SourcesResource):
    def open(self, source: SourceConfig, *, state_dir: Path) -> SourceReader:
        if source.kind != "salesforce":
            return super().open(source, state_dir=state_dir)
        # The replay finishes a Bulk 2.0 job at the second poll: no reason to wait between.
        return SalesforceSource(
            source.salesforce,
            source=source.name,
            session=replay_session(),
            login=REPLAY_LOGIN,
            bulk_poll_seconds=0,
        )
