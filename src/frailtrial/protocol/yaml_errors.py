"""What is wrong in a YAML text, in plain words with its line and column: syntax errors and
keys given twice in one mapping (PyYAML keeps the last silently)."""

from __future__ import annotations

import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_MERGE = "tag:yaml.org,2002:merge"


def _at(mark: yaml.Mark | None) -> str:
    return "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def duplicate_keys(root: Node) -> list[tuple[str, str]]:
    """(path, message) for every key that a mapping gives a second time, e.g.
    ``arms[0].name: duplicate key 'name' at line 9 (first at line 7)...``.

    Each node is visited once, so aliases to shared nodes cost nothing (no "billion
    laughs" blow-up)."""
    problems: list[tuple[int, str, str]] = []
    seen: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            first: dict[tuple[str, str], Node] = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                    continue
                child = f"{path}.{key.value}" if path else key.value
                earlier = first.setdefault((key.tag, key.value), key)
                if earlier is not key:
                    problems.append(
                        (
                            key.start_mark.line,
                            child,
                            f"duplicate key {key.value!r} at {_at(key.start_mark)} (first at "
                            f"line {earlier.start_mark.line + 1}); a key may appear once in a "
                            "mapping",
                        )
                    )
                stack.append((value, child))
    return [(path, message) for _, path, message in sorted(problems)]


def _reason(exc: yaml.YAMLError) -> str:
    """Plain words for PyYAML's (pure-Python) error, the context's position included."""
    if isinstance(exc, yaml.reader.ReaderError):
        return f"the character #x{exc.character:04x} is not allowed in YAML"
    problem = getattr(exc, "problem", None) or ""
    context = getattr(exc, "context", None) or ""
    opened = _at(getattr(exc, "context_mark", None))
    found = re.match(r"found character '(.*)' that cannot start any token", problem)
    if found or "tab character" in problem:
        char = found.group(1) if found else "\\t"
        if char == "\\t":
            return "a tab character cannot start a token; indent with spaces"
        return f"the character '{char}' cannot start a value; put the value in quotes"
    if problem.startswith("mapping values are not allowed"):
        return (
            "a ':' followed by a space is not allowed here; put a value containing ': ' in "
            "quotes, or start the nested mapping on a new line"
        )
    for kind, bracket, close in (("sequence", "[", "]"), ("mapping", "{", "}")):
        if context == f"while parsing a flow {kind}":
            return (
                f"the '{bracket}' opened at {opened} is not closed by '{close}' "
                "(or two of its entries lack a ',' between them)"
            )
    if context == "while parsing a flow node" and problem.endswith("found '-'"):
        return (
            "a '- ' list item inside '[...]' or '{...}'; close the bracket first, or write "
            "the list as '- ' lines without brackets"
        )
    if "quoted scalar" in context and "end of stream" in problem:
        return f"the quoted value opened at {opened} is never closed"
    if context == "while parsing a block mapping":
        return (
            f"this line is not indented like the keys of the mapping at {opened}; "
            "keys of one mapping start in the same column"
        )
    if context == "while parsing a block collection":
        return f"expected a list item ('- ') in the column of the list at {opened}"
    if context == "while scanning a simple key":
        return "a key needs a ':' after it (or a value continues at the wrong indentation)"
    alias = re.match(r"found undefined alias '(.*)'", problem)
    if alias:
        return f"the alias *{alias.group(1)} refers to no anchor &{alias.group(1)}"
    escape = re.match(r"found unknown escape character '(.*)'", problem)
    if escape:
        return (
            f"'\\{escape.group(1)}' is not an escape in a double-quoted value; use single "
            "quotes, or write '\\\\' for a backslash"
        )
    anchor = re.match(r"found duplicate anchor '(.*)'", context)
    if anchor:
        return f"the anchor &{anchor.group(1)} is defined again (first at {opened})"
    if "expected a single document" in context:
        return "a second YAML document starts here ('---'); the file must hold one"
    tag = re.search(r"constructor for the tag '(.*)'", problem)
    if tag:
        return f"the tag '{tag.group(1)}' is not allowed; write plain YAML values"
    return "; ".join(x for x in (problem, context) if x) or str(exc)


def yaml_error(text: str, exc: yaml.YAMLError) -> str:
    """`` at line L, column C: <what is wrong>`` for a syntax error of ``text``.

    libyaml's messages omit the character at fault, so the text is parsed again with the
    pure-Python parser, whose messages name it (errors are rare; speed does not matter)."""
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as pure:
        exc = pure
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {len(before.rsplit(chr(10), 1)[-1]) + 1}"
    else:
        where = _at(getattr(exc, "problem_mark", None)) or _at(getattr(exc, "context_mark", None))
    return f"{' at ' + where if where else ''}: {_reason(exc)}"
