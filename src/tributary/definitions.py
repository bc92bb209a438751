"""The single entry point of the Tributary code location."""

import dagster as dg

from tributary.config.loader import load_project
from tributary.defs import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_project(), for_the_process=True)
