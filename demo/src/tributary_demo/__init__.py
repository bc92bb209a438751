"""Tributary's demo, a dev-only package beside the product (never in its wheel or image):
the demo source databases, the demo Salesforce org replayed in-process, and the definitions
that run the product on them, so that `make demo` needs no server at all."""

from tributary_demo.sources import DEMO_DATABASES, generate_demo_sources

__all__ = ["DEMO_DATABASES", "generate_demo_sources"]
