"""Load a protocol from a built-in name or a YAML file, reporting every problem at once."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from frailtrial.errors import InputError
from frailtrial.protocol.checks import check
from frailtrial.protocol.model import Protocol
from frailtrial.protocol.yaml_errors import duplicate_keys, yaml_error

_BUILTIN_PACKAGE = "frailtrial.protocol.builtin"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_M = TypeVar("_M", bound=BaseModel)


class ProtocolError(InputError):
    """A protocol with problems; ``problems`` holds (path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        listed = " | ".join(f"{path}: {msg}" for path, msg in problems)
        super().__init__(f"protocol {source} has {len(problems)} problem(s): {listed}")


def package_yaml_names(package: str) -> list[str]:
    """The names (without .yaml) of the YAML files shipped in a package, sorted."""
    files = resources.files(package).iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".yaml"))


def load_packaged(package: str, name: str, model: type[_M], what: str) -> _M:
    """The YAML file ``name`` shipped in ``package``, validated as ``model``; InputError
    listing the available names when there is none (``what`` says what they are)."""
    names = package_yaml_names(package)
    if name not in names:
        raise InputError(f"no {what} for {name!r}; available: {', '.join(names)}")
    where = f"{package.removeprefix('frailtrial.protocol.').replace('.', '/')}/{name}.yaml"
    text = resources.files(package).joinpath(f"{name}.yaml").read_text("utf-8")
    try:
        return model.model_validate(read_yaml(text, where))
    except ValidationError as exc:  # a packaging error, not a user's
        raise AssertionError(f"{where} is malformed: {exc}") from exc


def builtin_names() -> list[str]:
    """Names of the protocols shipped with frailtrial."""
    return package_yaml_names(_BUILTIN_PACKAGE)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


# Plain words for pydantic's error types ({input} is the bad value, the rest pydantic's ctx)
_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "literal_error": "{input!r} is not allowed; expected {expected}",
    "string_pattern_mismatch": "{input!r} must be lowercase letters, digits and _ (or - in names)",
    "too_short": "needs at least {min_length} entries",
}


def _message(err: Any) -> str:
    """Plain words for one pydantic error (pydantic's own message for other types)."""
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "greater_than" and ctx.get("gt") == 0:
        return "must be a positive " + ("integer" if isinstance(err["input"], int) else "number")
    template = _MESSAGES.get(kind)
    return str(err["msg"]) if template is None else template.format(input=err["input"], **ctx)


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(path, message) for every error of a pydantic validation, in plain words."""
    return [(_path(e["loc"]), _message(e)) for e in exc.errors()]


def parse(data: Any, source: str, earlier: list[tuple[str, str]] | None = None) -> Protocol:
    """Validate a mapping as a protocol; raise ProtocolError listing every problem, after
    the ``earlier`` ones found in its text (duplicate keys)."""
    problems = list(earlier or [])
    if not isinstance(data, dict):
        problems.append(("(top level)", "must be a mapping of protocol fields"))
        raise ProtocolError(source, problems)
    try:
        proto = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(source, problems + validation_problems(exc)) from None
    problems += check(proto)
    if problems:
        raise ProtocolError(source, problems)
    return proto


def read_yaml(text: str, what: str) -> Any:
    """Parse YAML text; InputError naming ``what`` (e.g. ``protocol my.yaml``), the line and
    column and what is wrong, for a syntax error and for a key given twice in a mapping."""
    data, duplicates = read_yaml_keys(text, what)
    if duplicates:
        path, message = duplicates[0]
        more = f" (and {len(duplicates) - 1} more)" if len(duplicates) > 1 else ""
        raise InputError(f"{what}: {path}: {message}{more}")
    return data


def read_yaml_keys(text: str, what: str) -> tuple[Any, list[tuple[str, str]]]:
    """Parse YAML text (libyaml's parser when installed: ~8x faster) into its data and a
    (path, message) problem for every key given twice in a mapping; InputError for a
    syntax error, saying where and what is wrong."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        duplicates = [] if node is None else duplicate_keys(node)
        return (None if node is None else loader.construct_document(node)), duplicates
    except yaml.YAMLError as exc:
        raise InputError(f"{what}: not valid YAML{yaml_error(text, exc)}") from None
    finally:
        loader.dispose()


def load(name_or_file: str | Path) -> Protocol:
    """A built-in protocol by name (e.g. ``huc-msc-2024``) or a user's YAML file."""
    key = str(name_or_file)
    if key in builtin_names():
        text = resources.files(_BUILTIN_PACKAGE).joinpath(f"{key}.yaml").read_text("utf-8")
        data, duplicates = read_yaml_keys(text, f"protocol {key}")
        return parse(data, key, duplicates)
    path = Path(key)
    if not path.is_file():
        raise InputError(
            f"protocol {key!r} is neither a built-in ({', '.join(builtin_names())}) nor a file"
        )
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"protocol {key}: cannot read ({exc.__class__.__name__})") from None
    data, duplicates = read_yaml_keys(text, f"protocol {key}")
    return parse(data, key, duplicates)
