"""`python -m tributary_demo run | generate | summary`: `make demo` (run), or its first and
last steps on their own."""

from __future__ import annotations

import argparse
import sys

from tributary.config.loader import load_project
from tributary_demo.run import run_demo
from tributary_demo.sources import generate_demo_sources
from tributary_demo.summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary_demo")
    command = parser.add_subparsers(dest="command", required=True)
    generate = command.add_parser("generate", help="write the demo source databases")
    generate.add_argument("--overwrite", action="store_true", help="rebuild existing files")
    command.add_parser("summary", help="print what the demo run produced")
    command.add_parser("run", help="generate, materialize every asset, log the run, summarize")
    args = parser.parse_args(argv)

    if args.command == "run":
        return run_demo()
    project = load_project()
    if args.command == "generate":
        paths = generate_demo_sources(project.state_dir / "demo", overwrite=args.overwrite)
        for name, path in paths.items():
            print(f"demo source {name}: {path}")
    else:
        print(summarize(project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
