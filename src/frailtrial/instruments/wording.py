"""Item and response wording of questionnaires, per instrument and language, from JSON files.

A wording file ``<instrument>.<language>.json`` holds::

    {"format": "frailtrial-wording/1", "instrument": "sf36", "language": "en",
     "licence": "who allows this use", "validated": true, "title": "...", "instructions": "...",
     "items": [{"id": "1", "intro": "(optional text shown above)", "text": "...",
                "responses": {"1": "Excellent", "2": "Very good", ...}}, ...]}

``items`` lists every item of the instrument once, in the order asked. An integer item with at
most 11 allowed values needs one response per value (keys are the values as text); any other
item (a number, a time, the EQ VAS) is answered by typing and has no ``responses``.

Only public-domain wording ships with frailtrial (RAND-36, which fits SF-36 v1 items, in
English and in a Simplified Chinese wording made from it for frailtrial -- not a validated
translation, so marked ``"validated": false``: staff forms show it, participants are not asked
in it). Licensed wording (EQ-5D, PSQI, SF-36 v2, ...) is read from the folder the site
supplies under its licence: ``FRAILTRIAL_WORDING_DIR``; a supplied file takes precedence (a
site with a validated Chinese SF-36 supplies it there).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frailtrial.errors import InputError
from frailtrial.instruments.base import Item

FORMAT = "frailtrial-wording/1"
LANGUAGES = ("en", "zh-hans")
SHIPPED = Path(__file__).parent / "data" / "wording"
PUBLIC_DOMAIN = frozenset({"sf36"})
"""Instruments whose shipped wording is public domain (RAND-36); all others are supplied."""
MAX_CHOICES = 11
_KEYS = (
    "format",
    "instrument",
    "language",
    "licence",
    "validated",
    "title",
    "instructions",
    "items",
)
_ITEM_KEYS = ("id", "intro", "text", "responses")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Question:
    """One item as the participant sees it: its wording and, for choices, the responses."""

    item: Item
    text: str
    intro: str
    responses: tuple[tuple[str, str], ...]  # (value as text, wording), in order


@dataclass(frozen=True)
class Wording:
    """An instrument's wording in one language, checked against the instrument's items."""

    instrument: str
    language: str
    title: str
    instructions: str
    licence: str
    questions: tuple[Question, ...]
    validated: bool = True  # false: a wording not linguistically validated (not for participants)


def supplied_dir() -> Path | None:
    """The site's wording folder (``FRAILTRIAL_WORDING_DIR``), None when not set."""
    folder = os.environ.get("FRAILTRIAL_WORDING_DIR", "").strip()
    return Path(folder) if folder else None


def path_of(instrument: str, language: str) -> Path | None:
    """The wording file used for ``instrument`` in ``language`` (supplied first), or None."""
    name = f"{instrument}.{language}.json"
    folder = supplied_dir()
    if folder is not None and (folder / name).is_file():
        return folder / name
    if instrument in PUBLIC_DOMAIN and (SHIPPED / name).is_file():
        return SHIPPED / name
    return None


def choice_values(item: Item) -> list[str] | None:
    """The values a participant picks from (as text), or None when the item is typed in."""
    if item.kind == "choice":
        return list(item.choices)
    if item.kind == "boolean":
        return ["true", "false"]
    if (
        item.kind == "integer"
        and item.minimum is not None
        and item.maximum is not None
        and item.maximum - item.minimum + 1 <= MAX_CHOICES
    ):
        return [str(v) for v in range(int(item.minimum), int(item.maximum) + 1)]
    return None


def _text(value: Any, where: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InputError(f"{where} must be a non-empty text")
    hit = _CONTROL.search(value)
    if hit:
        raise InputError(f"{where} contains a control character (U+{ord(hit.group()):04X})")
    return value


def parse(data: Any, items: tuple[Item, ...] | list[Item], instrument: str, where: str) -> Wording:
    """Check a decoded wording file against the instrument's items; InputError (one line,
    naming the file and the place) when anything is wrong."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: a wording file is a JSON object")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(_KEYS)}")
    if data.get("format") != FORMAT:
        raise InputError(f"{where}: format must be {FORMAT!r}, not {data.get('format')!r}")
    if data.get("instrument") != instrument:
        raise InputError(
            f"{where}: instrument is {data.get('instrument')!r}; this file must hold {instrument!r}"
        )
    language = data.get("language")
    if language not in LANGUAGES:
        raise InputError(f"{where}: language {language!r} is not one of {', '.join(LANGUAGES)}")
    licence = _text(data.get("licence"), f"{where}: licence")
    validated = data.get("validated", True)
    if not isinstance(validated, bool):
        raise InputError(f"{where}: validated must be true or false, not {validated!r}")
    title = _text(data.get("title"), f"{where}: title")
    instructions = _text(data.get("instructions"), f"{where}: instructions", required=False)
    entries = data.get("items")
    if not isinstance(entries, list):
        raise InputError(f"{where}: items must be a list of {len(items)} items")
    by_id = {i.id: i for i in items}
    seen: set[str] = set()
    questions = []
    for n, entry in enumerate(entries, start=1):
        at = f"{where}: items[{n}]"
        if not isinstance(entry, dict):
            raise InputError(f"{at} must be an object with id, text and responses")
        extra = sorted(set(entry) - set(_ITEM_KEYS))
        if extra:
            raise InputError(f"{at}: unknown key {extra[0]!r}; allowed: {', '.join(_ITEM_KEYS)}")
        item = by_id.get(entry.get("id"))  # type: ignore[arg-type]
        if item is None:
            raise InputError(
                f"{at}: id {entry.get('id')!r} is not an item of {instrument} ({', '.join(by_id)})"
            )
        if item.id in seen:
            raise InputError(f"{at}: item {item.id!r} is listed twice")
        seen.add(item.id)
        at = f"{where}: item {item.id!r}"
        text = _text(entry.get("text"), f"{at} text")
        intro = _text(entry.get("intro"), f"{at} intro", required=False)
        values = choice_values(item)
        responses = entry.get("responses")
        if values is None:
            if responses is not None:
                raise InputError(f"{at} is typed in ({item.allowed()}); it takes no responses")
            pairs: tuple[tuple[str, str], ...] = ()
        else:
            if not isinstance(responses, dict) or set(responses) != set(values):
                got = sorted(responses) if isinstance(responses, dict) else responses
                raise InputError(
                    f"{at} needs one response for each of {', '.join(values)} (got {got!r})"
                )
            pairs = tuple((v, _text(responses[v], f"{at} response {v}")) for v in values)
        questions.append(Question(item, text, intro, pairs))
    missing = [i.id for i in items if i.id not in seen]
    if missing:
        raise InputError(f"{where}: item {missing[0]!r} of {instrument} has no wording")
    return Wording(instrument, language, title, instructions, licence, tuple(questions), validated)


def load(instrument: str, language: str, items: tuple[Item, ...] | list[Item]) -> Wording:
    """The wording of ``instrument`` in ``language`` for these items; InputError (one line)
    when no file is there or the file is not valid."""
    path = path_of(instrument, language)
    if path is None:
        where = (
            "shipped or in FRAILTRIAL_WORDING_DIR"
            if instrument in PUBLIC_DOMAIN
            else ("in FRAILTRIAL_WORDING_DIR (licensed wording is supplied by the site)")
        )
        raise InputError(f"no {language} wording for {instrument} {where}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({str(exc).splitlines()[0]})") from None
    return parse(data, items, instrument, str(path))
