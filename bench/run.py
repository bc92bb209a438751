"""Run the benchmarks and write their results into bench/README.md.

Each benchmark is a module with `run() -> str` (a Markdown section); its results replace the
text between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in the README.
Add a benchmark by adding its module to BENCHMARKS.

    python -m bench.run [name ...]          (make bench)
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

README = Path(__file__).with_name("README.md")
BENCHMARKS = {
    "export": "bench.export_bench",
    "ingest": "bench.ingest_bench",
    "rss": "bench.rss_bench",
    "definitions": "bench.definitions_bench",
    "overhead": "bench.overhead_bench",
}


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = README.read_text()
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    README.write_text(text)


def main(names: list[str]) -> None:
    for name in names or list(BENCHMARKS):
        print(f"== {name}")
        section = importlib.import_module(BENCHMARKS[name]).run()
        write_section(name, section)
        print(section)
    print(f"results written to {README}")


if __name__ == "__main__":
    main(sys.argv[1:])
