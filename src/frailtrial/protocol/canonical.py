"""The one canonical text of a protocol and its SHA-256, shared by the store and the report.

The EDC store keeps this text as the trial's snapshot with its hash, and an analysis reports
the hash of the protocol it ran with: the same protocol gives the same hash in both, so a
report made from an EDC export can be matched to the trial it came from.
"""

from __future__ import annotations

import hashlib

import yaml

from frailtrial.protocol.model import Protocol


def canonical_text(protocol: Protocol) -> str:
    """The protocol as YAML with sorted keys (same content, same text)."""
    return yaml.safe_dump(protocol.model_dump(mode="json"), sort_keys=True, allow_unicode=True)


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a protocol's canonical text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def protocol_hash(protocol: Protocol) -> str:
    """SHA-256 of the protocol's canonical text: the trial's ``protocol_sha256`` in the
    store and ``provenance.protocol.sha256`` of a report."""
    return text_hash(canonical_text(protocol))
