"""`python -m tributary.defs.prepare_dbt`: the dbt manifest the definitions load, prepared as the
runs call dbt (`make manifest` in a checkout; the Dockerfile at build time). The configuration
and dbt project are the ones the definitions find: $TRIBUTARY_CONFIG_DIR and
$TRIBUTARY_DBT_PROJECT_DIR, or their defaults."""

from __future__ import annotations

import sys

from tributary.config.loader import ConfigError, load_project
from tributary.defs.transform import prepare_manifest


def main() -> int:
    try:
        project = load_project()
        print(f"dbt manifest: {prepare_manifest(project)}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
