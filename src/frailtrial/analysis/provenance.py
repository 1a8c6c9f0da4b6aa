"""Provenance of an analysis: what went in (file hashes, protocol), what ran it, the seed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from frailtrial import __version__
from frailtrial.protocol import Protocol
from frailtrial.protocol.canonical import protocol_hash


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance(
    protocol: Protocol, data_dir: Path | None, seed: int | None = None
) -> dict[str, object]:
    """The provenance block of results.json and the report."""
    files = {p.name: sha256_file(p) for p in sorted(data_dir.glob("*.csv"))} if data_dir else {}
    return {
        "frailtrial_version": __version__,
        "protocol": {
            "name": protocol.name,
            "version": protocol.version,
            "sha256": protocol_hash(protocol),
        },
        "data_dir": str(data_dir) if data_dir else None,
        "input_files_sha256": files,
        "seed": seed,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
