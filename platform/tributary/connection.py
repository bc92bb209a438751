"""Turning a connection config into a URL, with secrets taken from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from tributary.config import ConnectionConfig
from tributary.errors import SourceError


def resolve_url(connection: ConnectionConfig, *, owner: str, state_dir: Path) -> URL:
    """`owner` names what connects (a source, the warehouse) in error messages."""
    if connection.url_env and os.environ.get(connection.url_env):
        url = make_url(os.environ[connection.url_env])
    elif connection.url:
        url = make_url(connection.url.replace("{state_dir}", str(state_dir)))
    else:
        raise SourceError(
            f"{owner}: environment variable {connection.url_env} is not set "
            "(named by connection.url_env)"
        )
    if connection.password_env:
        password = os.environ.get(connection.password_env)
        if password is None:
            raise SourceError(
                f"{owner}: environment variable {connection.password_env} is not set "
                "(named by connection.password_env)"
            )
        url = url.set(password=password)
    return url


def redact(text: str, url: URL) -> str:
    """`text` with the URL's password removed, for error messages from drivers."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
