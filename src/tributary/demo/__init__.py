"""Demo source databases, so that `make demo` runs with no server at all."""

from tributary.demo.sources import DEMO_DATABASES, generate_demo_sources

__all__ = ["DEMO_DATABASES", "generate_demo_sources"]
