"""Configuration YAML, read without PyYAML's silent surprises.

PyYAML reads YAML 1.1, where an unquoted `0042` is the octal number 34, `NO` (Norway), `off`
and `yes` are booleans and `1:30` is the base-60 number 90; and of a key written twice in one
mapping it keeps the last without a word. In a configuration each of these loads a value
nobody wrote (a tenant's id, a setting a query binds, the cursor of a table block copied and
edited), so they are refused with the line and the key, before anything is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it (the same safe constructor): about 8 times
# faster than the pure-Python one, which took a third of loading 1000 configured tables.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_BOOLEANS = {"true", "false"}


@dataclass
class YamlSurprise(ValueError):
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.key}: {self.message}" if self.key else self.message


def read_yaml(text: str) -> Any:
    """The document in `text` (None when empty), as PyYAML's safe loader builds it; raises
    YamlSurprise for a key written twice or a plain value YAML 1.1 reads as another."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(root: yaml.Node) -> None:
    pending: list[tuple[yaml.Node, str]] = [(root, "")]
    seen: set[int] = set()
    while pending:
        node, key = pending.pop()
        if isinstance(node, yaml.ScalarNode):
            if not node.style and (surprise := _surprise(node)):
                read_as, plainly = surprise
                raise YamlSurprise(
                    _line(node),
                    key,
                    f"{node.value} reads as {read_as} in YAML; quote it ('{node.value}') for "
                    f"the text, or write {plainly}",
                )
            continue
        if id(node) in seen:  # an alias of a node already checked
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, f"{key}[{i}]") for i, item in enumerate(node.value))
            continue
        lines: dict[tuple[str, str], int] = {}
        for key_node, value in node.value:
            if key_node.tag == f"{_TAG}merge":  # `<<: *defaults`: its keys may be overridden
                pending.append((value, key))
                continue
            name = f"{key}.{key_node.value}" if key else str(key_node.value)
            spelled = (key_node.tag, str(key_node.value))
            if spelled in lines:
                raise YamlSurprise(
                    _line(key_node),
                    name,
                    f"also set on line {lines[spelled]}; expected each key once (YAML would "
                    "keep only the last)",
                )
            lines[spelled] = _line(key_node)
            pending.append((value, name))


def _surprise(node: yaml.ScalarNode) -> tuple[str, str] | None:
    """What YAML 1.1 makes of a plain scalar where that is not what it says, and how to write
    that value so it does."""
    text = node.value
    if node.tag == f"{_TAG}bool" and text.lower() not in _BOOLEANS:
        value = str(text.lower() in {"yes", "on", "y"}).lower()
        return f"the boolean {value}", value
    if node.tag in (f"{_TAG}int", f"{_TAG}float") and ":" in text:
        value = yaml.load(text, Loader=_LOADER)
        return f"the base-60 number {value}", str(value)
    if node.tag == f"{_TAG}int" and _OCTAL.fullmatch(text):
        value = yaml.load(text, Loader=_LOADER)
        return f"the octal number {value}", "the number without leading zeros"
    return None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
