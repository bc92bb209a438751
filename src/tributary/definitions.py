"""The single entry point of the Tributary code location."""

import dagster as dg

from tributary.config.loader import ConfigError, load_project
from tributary.defs import build_definitions


class InvalidConfiguration(ConfigError, dg.DagsterError):
    """A ConfigError as the code location reports it. Being a DagsterError, Dagster shows it as
    is instead of under its own "Error occurred during the loading of Dagster definitions" with
    this one as the cause; raised afresh, its traceback is the few frames from the code server to
    `defs`, not the loader's internals."""


@dg.definitions
def defs() -> dg.Definitions:
    try:
        return build_definitions(load_project(), for_the_process=True)
    except ConfigError as error:
        raise InvalidConfiguration(str(error)) from None
