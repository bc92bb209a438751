"""Which errors are worth retrying: transient ones (connection resets, timeouts, throttling,
deadlocks, a server starting up), never configuration or data errors, which fail the same way
every time. A database driver's own code decides where it gives one (PostgreSQL's and
Redshift's SQLSTATE, MySQL's error number); the message only where it gives none (libpq's
refused login, connectorx, object stores and APIs)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import ValidationError

from tributary.config.loader import ConfigError
from tributary.errors import OvertakenLoadError, SchemaDriftError

# SQLSTATEs (PostgreSQL, Redshift) that another attempt may not meet: class 08 (the
# connection failed or broke), then serialization failure, deadlock, insufficient resources,
# too many connections, lock timeout, statement canceled (statement_timeout, or by an
# operator), the server shutting down (by an operator, after a crash), starting up or in
# recovery, and an idle session's timeout.
TRANSIENT_SQLSTATE_CLASSES = ("08",)
TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "53000", "53300", "55P03", "57014", "57P01", "57P02", "57P03", "57P05"}
)
# Redshift reports most errors as XX000 (internal error), its concurrent write conflict (1023,
# "Serializable isolation violation") among them: that code says nothing either way.
UNSAID_SQLSTATES = frozenset({"XX000"})
# MySQL / MariaDB error numbers that another attempt may not meet: too many connections,
# server shutdown, network read/write errors, lock wait timeout, deadlock, query interrupted
# (KILL QUERY), connection killed, statement timeout (MariaDB 1969, MySQL 3024), the client's
# own can't connect / server gone away / lost connection, and a session closed for inactivity.
TRANSIENT_MYSQL_ERRORS = frozenset(
    {1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1317, 1927, 1969, 3024}
    | {2002, 2003, 2006, 2013, 2055, 4031}
)

# What drivers, servers, object stores and APIs say when trying again later can succeed.
TRANSIENT_MESSAGE = re.compile(
    r"connection (?:reset|refused|aborted|closed|timed out)|broken pipe|\btimed? ?out\b|"
    # tokio-postgres (connectorx's PostgreSQL reader) on a connection that dropped mid-read
    r"\bError \{ kind: Closed\b|"
    # rust-mysql (connectorx's MySQL reader) on a connection that dropped mid-read
    r"bytes remaining on stream|"
    r"server closed the connection|lost connection|server has gone away|"
    r"too many connections|too many clients|could not connect|temporarily unavailable|"
    r"temporary failure|try again|try restarting transaction|"
    r"the database system is (?:starting up|in recovery mode|shutting down|not (?:yet )?accepting)|"
    r"terminating connection due to administrator command|"
    r"deadlock detected|deadlock found|could not serialize access|serializable isolation violation|"
    r"throttl|rate exceeded|slow ?down|request limit exceeded|"
    # Salesforce: its 500 (an internal fault it asks to retry), and a query's page locator
    # expired (Salesforce keeps them 15 minutes): a read run again queries anew
    r"\b(?:UNKNOWN_EXCEPTION|SERVER_UNAVAILABLE|INVALID_QUERY_LOCATOR)\b|"
    # an HTTP status, named as one (a bare 503 may be a key or a count)
    r"(?:\bHTTP|\bstatus(?: code)?|\berror code|\()\W{0,3}(?:429|502|503|504)\b|"
    r"\b(?:429|502|503|504) (?:too many requests|bad gateway|service unavailable|gateway time)",
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
        if isinstance(cause, NEVER_TRANSIENT):
            return False
        said = getattr(cause, "transient", None)  # what the driver said of Tributary's error
        if said is None:
            said = said_by_driver(cause)
        if said is not None:
            return said
        if PERMANENT_MESSAGE.search(str(cause)):
            return False
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
        if TRANSIENT_MESSAGE.search(str(cause)):
            return True
    return False


def said_by_driver(error: BaseException) -> bool | None:
    """Whether a database driver's error is transient by its own code: psycopg's `sqlstate`
    (psycopg2's `pgcode`), redshift_connector's server fields (C: the SQLSTATE), PyMySQL's
    error number. None where it carries none (libpq's refused login has no SQLSTATE)."""
    code = _sqlstate(error)
    if code is not None and code not in UNSAID_SQLSTATES:
        return code.startswith(TRANSIENT_SQLSTATE_CLASSES) or code in TRANSIENT_SQLSTATES
    number = _mysql_error_number(error)
    if number is not None:
        return number in TRANSIENT_MYSQL_ERRORS
    return None


def _sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code is None and _driver(error) == "redshift_connector" and error.args:
        fields = error.args[0]  # the server's ErrorResponse fields, by their one-letter codes
        code = fields.get("C") if isinstance(fields, dict) else None
    return code if isinstance(code, str) and len(code) == 5 else None


def _mysql_error_number(error: BaseException) -> int | None:
    if _driver(error) != "pymysql" or not error.args:
        return None
    number = error.args[0]
    # 0: PyMySQL's own errors on a closed connection, which carry no server number
    return number if isinstance(number, int) and number > 0 else None


def _driver(error: BaseException) -> str:
    return type(error).__module__.split(".")[0]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
