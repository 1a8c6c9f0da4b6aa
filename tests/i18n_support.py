"""Shared helpers of the translation tests: the web app's locale folder and a .po reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

from frailtrial.protocol.model import STAFF_ROLES

LOCALE = Path(__file__).resolve().parents[1] / "src/frailtrial/web/locale"
# one role allowed on every page it reaches, most powerful first; the pharmacy and DSMB pages
# are seen only by their unblinded roles
FIRST = ("admin", "coordinator")
ROLE_ORDER = (*FIRST, *(r for r in STAFF_ROLES if r not in FIRST))


def po_entries(path: Path) -> dict[str, str]:
    """msgid -> msgstr (msgstr[0] for plurals) of a .po file, a msgid with a context keyed
    as ``context\x04msgid`` (gettext's own key); a small reader for the test."""
    entries: dict[str, str] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        parts = re.split(r"^(msgctxt|msgid_plural|msgid|msgstr\[0\]|msgstr)\s", block, flags=re.M)
        fields = dict(zip(parts[1::2], parts[2::2], strict=True))
        if "msgid" not in fields:
            continue

        def text(raw: str) -> str:
            return "".join(json.loads(s) for s in re.findall(r'^".*"$', raw, re.M))

        msgstr = fields.get("msgstr", fields.get("msgstr[0]", ""))
        key = text(fields["msgid"])
        if "msgctxt" in fields:
            key = f"{text(fields['msgctxt'])}\x04{key}"
        entries[key] = text(msgstr)
    return entries
