"""The demo's code location: the product's definitions (tributary.definitions) with the demo's
sources resource, what `make demo` and `make dev` load (`dg launch|dev -m
tributary_demo.definitions`)."""

import dagster as dg

from tributary.config.loader import load_project
from tributary.defs import build_definitions
from tributary_demo.resources import ReplaySources


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_project(), sources=ReplaySources(), for_the_process=True)
