"""Audit anchors: the chain's head (sequence, hash, time) signed with the audit key, kept
outside the database so that a removed tail or an older backup is found later.

An anchor is a small JSON file. Every anchor is also kept in the anchors folder of the data
directory (``frailtrial-anchors/``), which :func:`known_anchors` reads; ``--out`` copies and
export folders hold further copies to keep elsewhere (e.g. with the sponsor).
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frailtrial.edc import config
from frailtrial.edc.models import AuditHead
from frailtrial.edc.services.audit import Finding, audit_key, canonical, sign
from frailtrial.edc.services.common import now, plain
from frailtrial.errors import InputError

FORMAT = "frailtrial-audit-anchor/1"
FOLDER = "frailtrial-anchors"
FIELDS = ("format", "store", "seq", "hash", "at")


@dataclass(frozen=True)
class Anchor:
    """A signed head: the store's id, the last sequence number and hash, when, and where read."""

    store: str
    seq: int
    hash: str
    at: str
    source: str


def anchors_dir() -> Path:
    """The folder of this data directory's anchors."""
    return config.data_dir(config.current_url()) / FOLDER


def _write(path: Path, text: str) -> None:
    try:
        config.private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise InputError(f"anchor {path}: cannot write it ({exc.strerror})") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def write_anchor(out: Path | None = None) -> tuple[Anchor, list[Path]]:
    """Sign the current head; keep it in the anchors folder (and at ``out``); returns the
    anchor and the files written. A store without any audit row has nothing to anchor."""
    head = AuditHead.objects.filter(pk=1).first()
    if head is None or head.seq == 0:
        raise InputError("the audit trail is empty: nothing to anchor yet")
    body: dict[str, Any] = {
        "format": FORMAT,
        "store": head.store,
        "seq": head.seq,
        "hash": head.hash,
        "at": plain(now()),
    }
    text = json.dumps(body | {"signature": sign(audit_key(), canonical(body))}, indent=2) + "\n"
    paths = [anchors_dir() / f"{head.store}-{head.seq:012d}.json"]
    if out is not None:
        paths.append(out)
    for path in paths:
        _write(path, text)
    return Anchor(head.store, head.seq, head.hash, body["at"], str(paths[-1])), paths


def read_anchor(path: Path) -> Anchor:
    """An anchor file, its signature checked with this store's audit key (InputError if the
    file is unreadable, not an anchor, edited, or signed with another key)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"anchor {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "signature" not in data:
        raise InputError(f"anchor {path}: not a frailtrial audit anchor (format {FORMAT})")
    body = {k: data.get(k) for k in FIELDS}
    if not isinstance(body["seq"], int) or not all(
        isinstance(body[k], str) for k in ("store", "hash", "at")
    ):
        raise InputError(f"anchor {path}: store, seq, hash and at must all be present")
    if not hmac.compare_digest(sign(audit_key(), canonical(body)), str(data["signature"])):
        raise InputError(
            f"anchor {path}: its signature does not match this store's audit key "
            "(edited, or the anchor of a store with another key)"
        )
    return Anchor(str(body["store"]), body["seq"], str(body["hash"]), str(body["at"]), str(path))


def known_anchors(store: str) -> list[Anchor]:
    """This store's anchors in the anchors folder, oldest first."""
    folder = anchors_dir()
    if not store or not folder.is_dir():
        return []
    found = [read_anchor(p) for p in sorted(folder.glob(f"{store}-*.json"))]
    return sorted((a for a in found if a.store == store), key=lambda a: a.seq)


def require_store(anchors: list[Anchor], store: str) -> None:
    """Refuse an anchor of another store (InputError naming its file). A store without an id
    has lost its whole trail: every anchor is then checked against it (and found longer)."""
    for a in anchors:
        if store and a.store != store:
            raise InputError(
                f"anchor {a.source}: it is of store {a.store}, not of this store ({store})"
            )


def check(anchors: list[Anchor], store: str, rows: int, hashes: dict[int, str]) -> list[Finding]:
    """Findings of a trail of ``rows`` rows (with ``hashes`` at the anchors' sequence numbers)
    against anchors: a trail shorter than an anchor saw (a removed tail, an older backup) or a
    different hash at an anchored row (a rewritten history)."""
    require_store(anchors, store)
    findings = []
    for a in anchors:
        if a.seq > rows:
            findings.append(
                Finding(
                    "edc_auditentry",
                    str(a.seq),
                    "seq",
                    f"the trail ends at row {rows} but anchor {a.source} saw row {a.seq} at "
                    f"{a.at}: rows were removed or an older backup was restored",
                )
            )
        elif hashes.get(a.seq) != a.hash:
            findings.append(
                Finding(
                    "edc_auditentry",
                    str(a.seq),
                    "hash",
                    f"differs from anchor {a.source} ({a.at}): the history was rewritten",
                )
            )
    return findings
