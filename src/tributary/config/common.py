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
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# Seconds. 3 attempts at a silent server, with the default backoff (1 s, 2 s), stay under 30 s.
DEFAULT_CONNECT_TIMEOUT = 8.0
ConnectTimeout = Annotated[float, Field(gt=0, le=600)]  # seconds
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
SECRET_KEYS = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "security_token",
    "client_secret", "session_id", "access_token",
)  # fmt: skip

# Query keys drivers take a password from (libpq's sslpassword: the client key's passphrase).
PASSWORD_QUERY_KEYS = ("password", "passwd", "pwd", "sslpassword")

UNENCODED_AT = (
    "holds an '@' that is not percent-encoded, so what follows it was read as the host: write "
    "an '@' in the user name or password as %40"
)


class UnencodedAt(ValueError):
    """A URL with an '@' left unencoded in its password. The message (UNENCODED_AT) reads after
    the URL's subject ("environment variable X ...") and never quotes the URL."""


def parse_url(text: str) -> URL:
    """`text` as a URL. An '@' left unencoded in a password ends it there (the parser allows
    one in a user name) and the parser reads the rest as the host (or fails on it as the
    port): every connection error would show that part of the password as the host. Raises
    UnencodedAt for it, and the parser's own errors (ArgumentError, ValueError) otherwise,
    which may quote `text`."""
    try:
        url = make_url(text)
    except ValueError:  # a port that is not a number: perhaps what follows an '@'
        if text.split("?", 1)[0].count("@") > 1:
            raise UnencodedAt(UNENCODED_AT) from None
        raise
    if "@" in (url.host or ""):
        raise UnencodedAt(UNENCODED_AT)
    return url


def query_password_key(url: URL) -> str | None:
    """The key of the URL's query that holds a password, if any: the driver logs in with it,
    but redact() (which knows url.password) cannot hide it, and dbt is not given it."""
    return next((key for key in url.query if key.lower() in PASSWORD_QUERY_KEYS), None)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def case_note(first: str, name: str) -> str:
    """Where a repeated name differs from its first spelling only in case, say so: names of
    sources and tables are compared ignoring case, as DuckDB and Redshift match the schemas and
    tables made from them."""
    if first == name:
        return ""
    return f" (as '{first}': names are compared ignoring case, as DuckDB and Redshift match them)"


def reject_literal_secrets(data: object, *, model: type[BaseModel], instead: str) -> object:
    """A key such as `password:` holding the secret itself is refused, without echoing it,
    pointing to the `<key>_env` of `model` that takes it, or where it has none (`token:` beside
    a URL), to the keys that name environment variables."""
    env_keys = [name for name in model.model_fields if name.endswith("_env")]
    if isinstance(data, dict):
        for key in data:
            if str(key).lower() not in SECRET_KEYS:
                continue
            if (env := f"{str(key).lower()}_env") in env_keys:
                where = f"in '{env}'{instead}"
            else:
                where = f"in one of {', '.join(sorted(env_keys))}"
            raise ValueError(
                f"'{key}' is a literal secret; expected the name of an environment variable {where}"
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
        return reject_literal_secrets(data, model=cls, instead=" (or the whole URL in 'url_env')")

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str | None) -> str | None:
        if url is None:
            return url
        try:
            parsed = parse_url(url)
        except UnencodedAt as error:
            # The parser places an '@' of a user name; one it misplaces is in a password.
            raise ValueError(
                f"the URL {error}, and keep the password out of YAML: in an environment "
                "variable named by 'password_env' (or the whole URL in 'url_env'); the value "
                "is not shown"
            ) from None
        except (ArgumentError, ValueError):
            raise ValueError(
                "expected a URL such as mysql://user@host:3306/db or sqlite:///path"
            ) from None
        if parsed.password:
            raise ValueError(
                "the URL holds a literal password; expected it in an environment variable "
                "named by 'password_env' (or the whole URL in 'url_env')"
            )
        if key := query_password_key(parsed):
            raise ValueError(
                f"the URL's query holds '{key}', a literal password; expected it in an "
                "environment variable named by 'password_env' (or the whole URL, the password "
                "as user:password@, in 'url_env')"
            )
        return url

    @model_validator(mode="after")
    def _some_url(self) -> ConnectionConfig:
        if not (self.url_env or self.url):
            raise ValueError("expected 'url_env' (an environment variable name) or 'url'")
        return self
