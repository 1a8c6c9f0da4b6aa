"""``frailtrial score NAME``: score answers read as JSON on stdin with a registered instrument.

The command is generic over the instrument registry: an instrument's options are the keyword
parameters of its factory (``--value-set CN`` sets ``value_set="CN"``), their allowed values
come from the parameters' ``Literal`` annotations, and the per-instrument help is generated
from the item schemas, so a newly registered instrument needs no change here.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from frailtrial.cli.output import emit_json, fail
from frailtrial.errors import InputError

if TYPE_CHECKING:  # the registry (numpy, pydantic) loads only when the command runs
    from frailtrial.instruments import Instrument

_USAGE = (
    "usage: frailtrial score NAME [--OPTION VALUE ...] [--json] < answers.json\n"
    "       frailtrial score --list | frailtrial score NAME --help\n"
    "Reads one JSON object (item -> answer, null = missing) or a list of objects on stdin and\n"
    "prints one result per input, in order."
)


_KIND_WORDS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number"}


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One option of an instrument: keyword name, allowed values (if a Literal), default."""

    name: str
    kind: type
    choices: tuple[Any, ...]
    default: Any

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        allowed = "|".join(str(c) for c in self.choices) if self.choices else self.kind.__name__
        default = "" if self.default is None else f" (default {self.default})"
        return f"{self.flag} {allowed}{default}"

    def convert(self, raw: str, instrument: str) -> Any:
        """The command-line text as the option's type; an InputError names what is allowed."""
        try:
            if self.kind is bool:
                if raw.lower() not in ("true", "false"):
                    raise ValueError(raw)
                value: Any = raw.lower() == "true"
            else:
                value = self.kind(raw)
        except ValueError:
            word = _KIND_WORDS.get(self.kind, self.kind.__name__)
            raise InputError(
                f"{instrument}: option {self.flag} = {raw!r} is not allowed; expected {word}"
            ) from None
        if self.choices and value not in self.choices:
            raise InputError(
                f"{instrument}: option {self.flag} = {raw!r} is not allowed; "
                f"use one of {', '.join(str(c) for c in self.choices)}"
            )
        return value


def _unpack(annotation: Any) -> tuple[type, tuple[Any, ...]]:
    """Base type and Literal choices of an annotation (``None`` in a union is ignored)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        kinds = [_unpack(a) for a in args]
        choices = tuple(c for _, cs in kinds for c in cs)
        return kinds[0][0], choices
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        return type(choices[0]), choices
    if isinstance(annotation, type):
        return annotation, ()
    return str, ()


def option_specs(factory: Callable[..., Instrument]) -> list[OptionSpec]:
    """The keyword options an instrument factory accepts, from its signature and annotations."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except (NameError, TypeError):  # unresolvable annotations: options are then plain text
        hints = {}
    specs = []
    for param in inspect.signature(factory).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        kind, choices = _unpack(hints.get(param.name, str))
        default = None if param.default is inspect.Parameter.empty else param.default
        specs.append(OptionSpec(param.name, kind, choices, default))
    return specs


def _parse_options(
    name: str, args: list[str], specs: list[OptionSpec]
) -> tuple[dict[str, Any], bool]:
    """Options given as ``--flag VALUE`` or ``--flag=VALUE``, and whether help was asked."""
    by_flag = {s.flag: s for s in specs}
    takes = ", ".join(by_flag) if by_flag else "no options"
    options: dict[str, Any] = {}
    want_help = False
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token in ("--help", "-h"):
            want_help = True
            continue
        flag, eq, raw = token.partition("=")
        if flag not in by_flag:
            raise InputError(f"{name} does not take {token!r}; it takes {takes}")
        if not eq:
            if i >= len(args):
                raise InputError(f"{name}: option {by_flag[flag].describe()} needs a value")
            raw = args[i]
            i += 1
        options[by_flag[flag].name] = by_flag[flag].convert(raw, name)
    return options, want_help


def instrument_help(name: str, instrument: Instrument, specs: list[OptionSpec]) -> str:
    """Help for one instrument: title, options, rules (module docstring) and item schema."""
    lines = [f"{name}: {instrument.title}", ""]
    lines.append("Options:" if specs else "Options: none")
    lines += [f"  {s.describe()}" for s in specs]
    lines += ["", "Items (JSON keys; null or absent = missing answer):"]
    width = max(len(item.id) for item in instrument.items)
    for item in instrument.items:
        unit = f" [{item.unit}]" if item.unit else ""
        lines.append(f"  {item.id:<{width}}  {item.allowed()}{unit}  -- {item.label}")
    doc = inspect.getdoc(sys.modules[type(instrument).__module__])
    if doc:
        lines += ["", "Scoring rules:", doc]
    return "\n".join(lines)


def _read_inputs() -> list[dict[str, Any]]:
    if sys.stdin.isatty():
        raise InputError("answers are read from stdin: pipe one JSON object or a list of objects")
    text = sys.stdin.read()
    if not text.strip():
        raise InputError("no input on stdin; expected one JSON object or a list of JSON objects")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"stdin is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "expected one JSON object or a list of JSON objects"
        ) from None
    records = data if isinstance(data, list) else [data]
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(
                f"input {i}: expected a JSON object of item answers, got {type(record).__name__}"
            )
    return records


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else json.dumps(value)


def score(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Instrument name (see --list)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    list_: bool = typer.Option(False, "--list", help="List the instruments and exit."),
) -> None:
    """Score answers (JSON on stdin) with an instrument. NAME --help documents its items."""
    try:
        _score(ctx.args, name, as_json, list_)
    except InputError as exc:
        fail(str(exc))


def _score(args: list[str], name: str | None, as_json: bool, list_: bool) -> None:
    from frailtrial.instruments import REGISTRY
    from frailtrial.instruments.base import result_as_dict

    if name in ("--help", "-h"):
        name, args = None, [*args, "--help"]
    if list_ or name is None:
        if name is None and not list_ and not {"--help", "-h"} & set(args):
            raise InputError("missing instrument NAME; known: " + ", ".join(REGISTRY.names()))
        rows = [(n, REGISTRY.get(n).title) for n in REGISTRY.names()]
        if as_json:
            emit_json([{"name": n, "title": t} for n, t in rows])
        else:
            typer.echo(_USAGE + "\n\nInstruments:")
            typer.echo("\n".join(f"  {n:<10} {t}" for n, t in rows))
        return
    factory = REGISTRY.factory(name)
    specs = option_specs(factory)
    options, want_help = _parse_options(name, args, specs)
    instrument = factory(**options)
    if want_help:
        typer.echo(instrument_help(name, instrument, specs))
        return
    results = []
    for i, record in enumerate(_read_inputs()):
        try:
            results.append(result_as_dict(instrument.score(record)))
        except InputError as exc:
            raise InputError(f"input {i}: {exc}") from None
    if as_json:
        emit_json(results)
        return
    for i, result in enumerate(results):
        typer.echo(f"[{i}] " + "  ".join(f"{k}={_fmt(v)}" for k, v in result.items()))


CONTEXT_SETTINGS = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}
