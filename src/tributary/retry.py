"""Which errors are worth retrying: transient ones (connection resets, timeouts, throttling),
never configuration or data errors, which fail the same way every time."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import ValidationError

from tributary.config.loader import ConfigError
from tributary.errors import OvertakenLoadError, SchemaDriftError

# What drivers, object stores and APIs say when trying again later can succeed.
TRANSIENT_MESSAGE = re.compile(
    r"connection (?:reset|refused|aborted|closed|timed out)|broken pipe|timed? ?out\b|"
    r"server closed the connection|lost connection|server has gone away|"
    r"too many connections|could not connect|temporarily unavailable|try again|"
    r"throttl|rate exceeded|slow ?down|request limit exceeded|"
    r"\b(?:429|502|503|504)\b",
    re.IGNORECASE,
)
# ... and what they say when it cannot, even where the same message also says "timed out"
# (connectorx's pool reports a missing SQLite file as a connection timeout).
PERMANENT_MESSAGE = re.compile(
    r"unable to open database file|access denied|authentication failed|permission denied|"
    r"unknown database|does not exist|no such (?:table|column)|syntax error",
    re.IGNORECASE,
)
NEVER_TRANSIENT = (ConfigError, SchemaDriftError, ValidationError, KeyError, TypeError)
# A load overtaken by a later one wrote nothing: another attempt reads the source anew.
ALWAYS_TRANSIENT = (OvertakenLoadError,)


def is_transient(error: BaseException) -> bool:
    """True for an error (or one it was raised from) that a later attempt may not meet."""
    for cause in _chain(error):
        if isinstance(cause, ALWAYS_TRANSIENT):
            return True
        if isinstance(cause, NEVER_TRANSIENT) or PERMANENT_MESSAGE.search(str(cause)):
            return False
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
        if TRANSIENT_MESSAGE.search(str(cause)):
            return True
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
