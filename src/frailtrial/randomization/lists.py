"""Allocation lists from a protocol: permuted blocks (fixed or random sizes), stratified.

A list is generated once, before the first participant, from a seed; its SHA-256 is published
as the commitment, so that anyone can later check that the list used is the list committed to.
Each stratum gets its own list of ``n`` entries drawn from an independent stream spawned from
the seed, so adding a stratum never changes the lists of the others. Every complete block holds
the arms in exactly their protocol ratio; only a list's last block may be cut short.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

COLUMNS = ("sequence", "stratum", "block", "block_size", "arm", "randomization_number")
UNSTRATIFIED = "all"


def stratum_levels(protocol: Protocol) -> dict[str, list[str]]:
    """Levels of each stratification factor: sites, a characteristic's levels, or no/yes."""
    out: dict[str, list[str]] = {}
    chars = {c.name: c for c in protocol.baseline_characteristics}
    for factor in protocol.randomization.strata:
        if factor == "site":
            out[factor] = list(protocol.identity.sites)
            continue
        char = chars[factor]
        levels = char.stratum_levels
        if levels is not None:
            out[factor] = levels
        else:
            raise InputError(
                f"randomization.strata: {factor!r} is {char.kind} without levels; "
                "stratify on a site, a binary or a characteristic with levels"
            )
    return out


def strata_labels(protocol: Protocol) -> list[str]:
    """One label per stratum (``factor=level|factor=level``), or ``all`` when unstratified."""
    levels = stratum_levels(protocol)
    if not levels:
        return [UNSTRATIFIED]
    combos = itertools.product(*levels.values())
    return ["|".join(f"{f}={v}" for f, v in zip(levels, combo, strict=True)) for combo in combos]


def _block_arms(protocol: Protocol, size: int) -> np.ndarray:
    """The arms of one block in protocol order, each repeated by its share of the block."""
    total = sum(a.ratio for a in protocol.arms)
    return np.repeat(
        np.array(protocol.arm_names, dtype=object),
        [a.ratio * size // total for a in protocol.arms],
    )


def _one_stratum(
    protocol: Protocol, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arms, block numbers and block sizes of one stratum's list of ``n`` entries."""
    r = protocol.randomization
    if r.scheme == "simple":
        ratios = np.array([a.ratio for a in protocol.arms], dtype=float)
        idx = rng.choice(len(ratios), size=n, p=ratios / ratios.sum())
        arms = np.array(protocol.arm_names, dtype=object)[idx]
        return arms, np.arange(1, n + 1), np.ones(n, dtype=int)
    sizes = np.array(r.block_sizes, dtype=int)
    arms_parts: list[np.ndarray] = []
    block_no: list[np.ndarray] = []
    block_size: list[np.ndarray] = []
    filled, b = 0, 0
    while filled < n:
        size = int(sizes[0] if r.scheme == "permuted_blocks" else rng.choice(sizes))
        b += 1
        arms_parts.append(rng.permutation(_block_arms(protocol, size)))
        block_no.append(np.full(size, b))
        block_size.append(np.full(size, size))
        filled += size
    return (
        np.concatenate(arms_parts)[:n],
        np.concatenate(block_no)[:n],
        np.concatenate(block_size)[:n],
    )


def generate_list(protocol: Protocol, seed: int, n: int) -> pd.DataFrame:
    """The allocation list: ``n`` entries per stratum, deterministic from ``seed``.

    Columns: sequence (1.. over the whole list), stratum, block (1.. within a stratum),
    block_size, arm, randomization_number (``R001`` ...; unique over the whole list).
    """
    if n < 1:
        raise InputError(f"--n {n}: the list needs at least 1 entry per stratum")
    if seed < 0:
        raise InputError(f"--seed {seed}: must be a non-negative integer")
    if protocol.randomization.scheme == "minimization":
        raise InputError(
            f"protocol {protocol.name}: minimization allocates at run time and has no list; "
            "allowed schemes for a list: permuted_blocks, random_permuted_blocks, simple"
        )
    labels = strata_labels(protocol)
    children = np.random.SeedSequence(seed).spawn(len(labels))
    frames = []
    for label, child in zip(labels, children, strict=True):
        arms, blocks, sizes = _one_stratum(protocol, np.random.Generator(np.random.PCG64(child)), n)
        frames.append(
            pd.DataFrame({"stratum": label, "block": blocks, "block_size": sizes, "arm": arms})
        )
    out = pd.concat(frames, ignore_index=True)
    total = len(out)
    width = max(3, len(str(total)))
    out.insert(0, "sequence", np.arange(1, total + 1))
    out["randomization_number"] = [f"R{i:0{width}d}" for i in range(1, total + 1)]
    out["arm"] = out["arm"].astype(str)
    return out[list(COLUMNS)]


def write_list(frame: pd.DataFrame, path: str | Path) -> str:
    """Write the list as CSV (same content, same bytes) and return its SHA-256 commitment."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(p, index=False, lineterminator="\n")
    except OSError as exc:
        raise InputError(f"--out {p}: cannot write ({exc.strerror or exc})") from None
    return commitment(p)


def parse_list(data: bytes, source: str) -> pd.DataFrame:
    """A list file's bytes (as written by :func:`write_list`, or uploaded) as a frame;
    ``source`` names it in errors."""
    try:
        frame = pd.read_csv(
            io.BytesIO(data), dtype={"stratum": str, "arm": str, "randomization_number": str}
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: not a readable CSV file ({exc.__class__.__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; needs {', '.join(COLUMNS)}"
        )
    return frame


def read_list(path: str | Path) -> pd.DataFrame:
    """Read a list written by :func:`write_list`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such randomization list")
    return parse_list(p.read_bytes(), str(p))


def commitment(path: str | Path) -> str:
    """SHA-256 (hex) of the list file's bytes: the value published before enrolment."""
    p = Path(path)
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None


def verify_list(path: str | Path, expected_sha256: str) -> None:
    """Raise InputError unless the file's SHA-256 equals the published commitment."""
    expected = expected_sha256.strip().lower()
    if len(expected) != 64 or any(ch not in "0123456789abcdef" for ch in expected):
        raise InputError(f"commitment {expected_sha256!r}: expected 64 hexadecimal digits")
    actual = commitment(path)
    if actual != expected:
        raise InputError(
            f"{path}: SHA-256 {actual} does not match the committed {expected}; "
            "the list was changed after it was committed"
        )
