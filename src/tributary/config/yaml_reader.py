"""Configuration YAML, read without PyYAML's silent surprises.

PyYAML reads YAML 1.1, where an unquoted `NO` (Norway), `off` or `yes` is a boolean, `0042` the
octal number 34 and `1:30` the base-60 number 90; and of a key written twice in one mapping it
keeps the last without a word. In a configuration each of these loaded a value nobody wrote (a
tenant's setting, its id, the cursor of a table block copied and edited). So, as in YAML 1.2,
only `true` and `false` are booleans: the other words stay text (a boolean key still takes
`yes`, which pydantic reads as true); and a number YAML 1.1 reads in base 8 or 60, or a key
written twice, is refused with its line and key before anything is built. A plain number with a
point (1234567890123456.78, 0.1, 1.0e+3) is read as the Decimal of its digits, not a float: a
float kept 17 significant digits (1234567890123456.8), and a parameter or tenant setting bound
another number than the one written; a float setting takes the Decimal as it took the float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it (the same safe constructor): about 8 times
# faster than the pure-Python one, which took a third of loading 1000 configured tables.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_BOOLEANS = {"true", "false"}
_TEXT = f"{_TAG}str"


def _decimal(loader: yaml.constructor.SafeConstructor, node: yaml.ScalarNode) -> Decimal | float:
    """A float's text as written, as a Decimal; .inf and .nan (no Decimal in SQL) as floats."""
    try:
        value = Decimal(loader.construct_scalar(node).replace("_", ""))
    except InvalidOperation:
        return loader.construct_yaml_float(node)
    return value if value.is_finite() else loader.construct_yaml_float(node)


class _DecimalLoader(_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, reading a float as the Decimal of its digits."""


_DecimalLoader.add_constructor(f"{_TAG}float", _decimal)


@dataclass
class YamlSurprise(ValueError):
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.key}: {self.message}" if self.key else self.message


def read_yaml(text: str) -> Any:
    """The document in `text` (None when empty), as PyYAML's safe loader builds it but for
    floats, read as Decimals of their digits; raises
    YamlSurprise for a key written twice or a plain value YAML 1.1 reads as another."""
    loader = _DecimalLoader(text)
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
            if node.style:  # quoted: text as written
                continue
            _keep_words(node)
            if read_as := _number_surprise(node):
                raise YamlSurprise(
                    _line(node),
                    key,
                    f"{node.value} reads as {read_as[0]} in YAML; quote it ('{node.value}') for "
                    f"the text, or write {read_as[1]}",
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
            _keep_words(key_node)
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


def _keep_words(node: yaml.Node) -> None:
    """yes, no, on, off (any case), unquoted: text, as in YAML 1.2."""
    plain = isinstance(node, yaml.ScalarNode) and not node.style
    if plain and node.tag == f"{_TAG}bool" and node.value.lower() not in _BOOLEANS:
        node.tag = _TEXT


def _number_surprise(node: yaml.ScalarNode) -> tuple[str, str] | None:
    """What YAML 1.1 makes of a plain number in base 60 or 8, and how to write it plainly."""
    text = node.value
    if node.tag in (f"{_TAG}int", f"{_TAG}float") and ":" in text:
        value = yaml.load(text, Loader=_LOADER)
        return f"the base-60 number {value}", str(value)
    if node.tag == f"{_TAG}int" and _OCTAL.fullmatch(text):
        value = yaml.load(text, Loader=_LOADER)
        return f"the octal number {value}", "the number without leading zeros"
    return None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
