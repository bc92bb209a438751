"""The `tributary` command: `tributary check [--source NAME]`, the preflight check."""

from __future__ import annotations

import argparse
import sys
import time

from tributary.config.loader import ConfigError, ProjectConfig, load_project
from tributary.preflight import run_preflight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tributary")
    command = parser.add_subparsers(dest="command", required=True)
    check = command.add_parser(
        "check",
        help="check every enabled table, the tenant registry, the warehouse and the stores, "
        "writing nothing",
        description="Connect to each enabled source and check its enabled tables (object, "
        "primary key, cursor and lookback), read the tenant registry as its sensor does, "
        "check the warehouse login and schemas, the landing and export stores, and each "
        "active tenant's own export store (tenant_url). One line per table; exit code 1 on "
        "any problem.",
    )
    check.add_argument("--source", metavar="NAME", help="check only this source's tables")
    check.add_argument(
        "--config-dir",
        metavar="DIR",
        help="the configuration folder (default: $TRIBUTARY_CONFIG_DIR or assets_config/)",
    )
    args = parser.parse_args(argv)
    return run_check(args.config_dir, args.source)


def run_check(config_dir: str | None, source: str | None) -> int:
    started = time.monotonic()
    try:
        project = load_project(config_dir)
    except ConfigError as error:
        print(f"FAIL  {error}")
        return 1
    names = [s.name for s in project.sources]
    if source is not None and source not in names:
        print(f"FAIL  no source named '{source}'; expected one of {', '.join(names)}")
        return 1
    failed = warned = 0
    definitions = check_definitions(project)
    print(definitions, flush=True)
    failed += definitions.startswith("FAIL")
    for check in run_preflight(project, source=source):
        print(check.line(), flush=True)
        failed += not check.ok
        warned += check.ok and bool(check.warnings)
    elapsed = time.monotonic() - started
    verdict = f"{failed} with problems" if failed else "all ok"
    if warned:
        verdict += f", {warned} with warnings"
    print(f"preflight: {verdict} ({elapsed:.1f} s)")
    return 1 if failed else 0


def check_definitions(project: ProjectConfig) -> str:
    """Build the definitions as the code location does: what only they check (teams.yaml's
    exports and schemas, the exports' models, tests on dbt sources, Dagster's reading of each
    schedule) stopped the code location loading after a preflight that said all ok."""
    import dagster as dg

    from tributary.defs import build_definitions

    try:
        defs = build_definitions(project)
        dg.Definitions.validate_loadable(defs)
    except Exception as error:  # whatever stops the code location loading, said as it says it
        return f"FAIL  definitions: {' '.join(str(error).split())}"
    return f"ok    definitions: {len(defs.resolve_asset_graph().get_all_asset_keys())} assets load"


if __name__ == "__main__":
    sys.exit(main())
