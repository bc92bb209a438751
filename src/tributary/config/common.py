"""The configuration pieces every part of Tributary shares: strict models, connections.

Apart from models.py so that a warehouse backend's settings (warehouse/<backend>/config.py)
can use them while models.py assembles the backends' settings into platform.yaml's."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Seconds. 3 attempts at a silent server, with the default backoff (1 s, 2 s), stay under 30 s.
DEFAULT_CONNECT_TIMEOUT = 8.0
ConnectTimeout = Annotated[float, Field(gt=0, le=600)]  # seconds
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
SECRET_KEYS = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "security_token",
    "client_secret", "session_id", "access_token",
)  # fmt: skip


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def case_note(first: str, name: str) -> str:
    """Where a repeated name differs from its first spelling only in case, say so: names of
    sources and tables are compared ignoring case, as DuckDB and Redshift match the schemas and
    tables made from them."""
    if first == name:
        return ""
    return f" (as '{first}': names are compared ignoring case, as DuckDB and Redshift match them)"


def reject_literal_secrets(data: object, *, instead: str) -> object:
    """A key such as `password:` holding the secret itself is refused, without echoing it."""
    if isinstance(data, dict):
        for key in data:
            if str(key).lower() in SECRET_KEYS:
                raise ValueError(
                    f"'{key}' is a literal secret; expected the name of an environment "
                    f"variable in '{key}_env'{instead}"
                )
    return data


class ConnectionConfig(StrictModel):
    """Where a source lives. Secrets only ever come from the environment."""

    url_env: EnvVarName | None = Field(
        None, description="environment variable holding the full connection URL"
    )
    url: str | None = Field(
        None,
        description="URL without a password, used when url_env is unset; {state_dir} expands",
    )
    password_env: EnvVarName | None = Field(
        None, description="environment variable holding the password to add to `url`"
    )
    connect_timeout: ConnectTimeout = Field(
        DEFAULT_CONNECT_TIMEOUT,
        description="seconds one attempt waits for the server to accept and answer a connection",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: object) -> object:
        return reject_literal_secrets(data, instead=" (or the whole URL in 'url_env')")

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str | None) -> str | None:
        if url is None:
            return url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ValueError(
                "expected a URL such as mysql://user@host:3306/db or sqlite:///path"
            ) from exc
        if parsed.password:
            raise ValueError(
                "the URL holds a literal password; expected it in an environment variable "
                "named by 'password_env' (or the whole URL in 'url_env')"
            )
        return url

    @model_validator(mode="after")
    def _some_url(self) -> ConnectionConfig:
        if not (self.url_env or self.url):
            raise ValueError("expected 'url_env' (an environment variable name) or 'url'")
        return self
