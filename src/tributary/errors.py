"""Errors shared across the plain-Python modules. Messages never carry credentials."""


class DriverError(RuntimeError):
    """An error in Tributary's words that may stand for a database driver's, raised `from
    None` so that the driver's message (which may carry credentials) is not chained: its
    `transient` keeps what the driver's code said of it (retry.said_by_driver), True or
    False, or None where it gave none."""

    def __init__(self, *args: object, transient: bool | None = None) -> None:
        super().__init__(*args)
        self.transient = transient


class SourceError(DriverError):
    """A source could not be read."""


class SchemaDriftError(RuntimeError):
    """A table's incoming columns cannot be loaded into its raw table as it stands: a type
    change that is no widening, a change its schema contract refuses, a key the rows lack."""


class ExportError(RuntimeError):
    """An export could not be written as configured."""


class RepeatedColumns(ExportError):
    """A query's result names one column twice (ignoring case): no export file can hold it (nor
    can PostgreSQL's COPY reader read it: it parses by name). The export names its file."""


class WarehouseError(DriverError):
    """The warehouse could not be reached or used."""


class UnloadableValue(WarehouseError):
    """A column's value the warehouse cannot hold, found while copying: the load names its
    table."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"column '{column}': {problem}")


class NullCursorError(SourceError):
    """Rows of an incremental table have no cursor value, and its null_cursor says fail."""


class InfiniteCursorError(SourceError):
    """A cursor value is infinity or -infinity: no watermark can follow it."""


class NullKeyError(SourceError):
    """Rows of a table with a primary_key have no value in a key column."""


class InboxDropError(SourceError):
    """An inbox drop cannot be loaded as it stands: its manifest cannot be read, or is not for
    its folder. The message names the drop's path."""


class StaleDropError(SourceError):
    """An inbox drop holds rows extracted before those its raw table already holds."""


class OvertakenLoadError(WarehouseError):
    """A load of a raw table (or slice) that another load of it committed beside while it
    read: written, its rows, maybe the older, would replace that load's."""


class Unreachable(ConnectionError):
    """A server refused a connection or did not answer in time. Transient by its type (a
    ConnectionError), so that the attempt is retried; its message names who connects and
    where, never credentials."""
