"""One export: the store read once, the asked formats written, the export audited and
anchored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frailtrial.edc.models import Membership, Trial
from frailtrial.edc.services import audit
from frailtrial.edc.services.anchor import write_anchor
from frailtrial.edc.services.common import protocol_of, sees_arm
from frailtrial.edc.services.exports.formats import FORMATS, select, writer
from frailtrial.edc.services.exports.tidy import build
from frailtrial.errors import InputError

ANCHOR_FILE = "audit-anchor.json"  # the signed audit head, written beside each export


def export(
    actor: Membership, out: str | Path, formats: tuple[str, ...] = tuple(FORMATS)
) -> dict[str, Any]:
    """Write the asked formats (default: all) of what the actor may see under ``out``, and
    the audit anchor; returns a summary (counts, formats, paths)."""
    written = select(formats)
    trial = Trial.objects.get(pk=actor.trial_id)
    tables = build(trial, sees_arm(actor))
    directory = Path(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {directory}: cannot create ({exc.strerror})") from None
    protocol = protocol_of(trial)
    files: list[Path] = []
    for name in written:
        files += writer(name)(tables, directory, protocol)
    audit_summary = {"blinded": tables.blinded, "files": len(files), "formats": list(written)}
    from django.db import transaction

    with transaction.atomic():
        audit.record(actor, "export", ("trial", str(trial.pk)), None, audit_summary)
    anchored, _ = write_anchor(directory / ANCHOR_FILE)  # the trail as it was at this export
    ds = tables.dataset
    return {
        "trial": trial.name,
        "out": str(directory),
        "blinded": tables.blinded,
        "formats": list(written),
        "participants": len(ds.participants),
        "measurements": len(ds.measurements),
        "adverse_events": len(ds.adverse_events),
        "screened": len(ds.screening),
        "infusions": len(ds.dosing),
        "files": [str(f) for f in files],
        "anchor": anchored.source,
    }
