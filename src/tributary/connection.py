"""Turning a connection config into a URL, with secrets taken from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tributary.config.common import (
    ConnectionConfig,
    UnencodedAt,
    parse_url,
    query_password_key,
)
from tributary.errors import SourceError


def resolve_url(connection: ConnectionConfig, *, owner: str, state_dir: Path) -> URL:
    """`owner` names what connects (a source, the warehouse) in error messages."""
    if connection.url_env and os.environ.get(connection.url_env):
        try:
            url = parse_url(os.environ[connection.url_env])
        except UnencodedAt as error:
            raise SourceError(
                f"{owner}: environment variable {connection.url_env} {error} (its value is not "
                "shown)"
            ) from None
        except (ArgumentError, ValueError):
            # The parser's message may quote the value, and the value holds the password.
            raise SourceError(
                f"{owner}: environment variable {connection.url_env} does not hold a valid "
                "URL such as mysql://user:password@host:3306/db (its value is not shown)"
            ) from None
        if key := query_password_key(url):
            raise SourceError(
                f"{owner}: environment variable {connection.url_env} holds a URL whose query "
                f"has '{key}': write the password as the URL's user:password@ (percent-encoded), "
                "or in a variable named by connection.password_env, where it is kept out of "
                "errors and given to dbt (its value is not shown)"
            )
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


def redact(text: str, url: URL | None) -> str:
    """`text` with the URL's password removed, for error messages from drivers: as it is, and
    percent-encoded as it appears inside a URL."""
    return hide(text, str(url.password) if url is not None and url.password else None)


def hide(text: str, secret: str | None) -> str:
    """`text` with every written form of `secret` replaced by ***."""
    if secret:
        for form in secret_forms(secret):
            text = text.replace(form, "***")
    return text


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can be written out: as it is, and encoded for a URL."""
    # quote(safe=" +") is how SQLAlchemy renders a URL's password
    safe_sets = ("", "/", " +")
    forms = {secret, quote_plus(secret), *(quote(secret, safe=safe) for safe in safe_sets)}
    return sorted((form for form in forms if form), key=len, reverse=True)
