"""Allocation lists from a protocol: permuted blocks (fixed or random sizes), stratified.

A list is generated once, before the first participant, from a seed: by default 128 bits
from :mod:`secrets`, never written down, so nobody can regenerate the list. A given seed
reproduces a list for rehearsal; one of fewer than 128 bits is refused unless asked for as
weak, and such a list says so in its header, which a live trial's import refuses.

The file starts with a header (protocol, seed kind and a fresh 128-bit random salt) and then
the CSV entries; its SHA-256 is published as the commitment. The salt makes the commitment
reveal nothing: even knowing the seed of a weak list, one cannot recompute the file's hash.
Each stratum gets its own list of ``n`` entries drawn from an independent stream spawned from
the seed, so adding a stratum never changes the lists of the others. Every complete block holds
the arms in exactly their protocol ratio; only a list's last block may be cut short.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

import numpy as np
import pandas as pd

from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

COLUMNS = ("sequence", "stratum", "block", "block_size", "arm", "randomization_number")
UNSTRATIFIED = "all"
SEED_BITS = 128
"""The fewest bits a list seed may have without ``--weak-seed``."""
SeedKind = Literal["secret", "given", "weak"]
"""How a list was seeded: drawn from ``secrets``, given (>= 128 bits), or weak (rehearsal)."""
_SEED_NOTE: dict[str, str] = {
    "secret": "secret (128 bits from the operating system, not recorded)",
    "given": "given (at least 128 bits; reproducible by whoever holds it)",
    "weak": "weak (fewer than 128 bits; rehearsal only, a live trial refuses this list)",
}
_MAGIC = "# frailtrial randomization list"


@dataclass(frozen=True)
class ListHeader:
    """The lines before a list's CSV: its protocol, how it was seeded, and the random salt
    that makes its SHA-256 commitment unguessable."""

    protocol: str
    seed: SeedKind
    salt: str

    def text(self) -> str:
        """The header exactly as written at the top of the file."""
        return (
            f"{_MAGIC}\n# protocol: {self.protocol}\n# seed: {_SEED_NOTE[self.seed]}\n"
            f"# salt: {self.salt}\n"
        )


def list_seed(seed: int | None, weak_seed: bool = False) -> tuple[int, SeedKind]:
    """The seed to generate a list from and its kind: ``secrets`` when none is given; a
    given seed of fewer than 128 bits only with ``weak_seed`` (then the list is weak)."""
    if seed is None:
        return secrets.randbits(SEED_BITS), "secret"
    if seed < 0:
        raise InputError(f"--seed {seed}: must be a non-negative integer")
    if seed.bit_length() >= SEED_BITS:
        return seed, "given"
    if not weak_seed:
        raise InputError(
            f"--seed {seed}: {seed.bit_length()} bits, a list seed needs at least {SEED_BITS} "
            "(leave --seed out, or python -c 'import secrets; print(secrets.randbits(256))'); "
            "add --weak-seed for a rehearsal list that a live trial refuses"
        )
    return seed, "weak"


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


def stratum_label(protocol: Protocol, values: Mapping[str, str]) -> str:
    """The stratum label of one participant from each factor's value (``sex=female|site=A``),
    spelled as the list spells it; InputError for a missing factor or a value not a level."""
    levels = stratum_levels(protocol)
    if not levels:
        return UNSTRATIFIED
    parts = []
    for factor, allowed in levels.items():
        value = values.get(factor)
        if value is None:
            raise InputError(f"stratification factor {factor!r} was not recorded at screening")
        if value not in allowed:
            raise InputError(
                f"stratification factor {factor}: {value!r} is not one of {', '.join(allowed)}"
            )
        parts.append(f"{factor}={value}")
    return "|".join(parts)


def take_in_order(frame: pd.DataFrame, strata: Sequence[str]) -> pd.DataFrame:
    """The entries that participants randomized in this order, with these strata, receive:
    each takes the next unused entry of its stratum in list order, as the EDC allocates (a
    list of one stratum serves everyone). Rows in participant order; InputError if a
    stratum's list runs out."""
    want = pd.DataFrame({"stratum": list(strata)})
    if frame["stratum"].nunique() == 1:
        want["stratum"] = frame["stratum"].iloc[0]
    want["k"] = want.groupby("stratum", sort=False).cumcount()
    entries = frame.sort_values("sequence", kind="stable")
    entries = entries.assign(k=entries.groupby("stratum", sort=False).cumcount())
    out = want.merge(entries, on=["stratum", "k"], how="left", validate="one_to_one")
    short = out["arm"].isna()
    if short.any():
        raise InputError(
            f"the randomization list is exhausted for stratum {out['stratum'][short].iloc[0]!r}"
        )
    return out[list(COLUMNS)].astype({"sequence": int, "block": int, "block_size": int})


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

    Whoever knows ``seed`` knows the list: draw it with :func:`list_seed` for a live trial.

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


def rows_bytes(rows: Iterable[Sequence[object]], header: ListHeader | None) -> bytes:
    """The file's bytes from entry tuples in :data:`COLUMNS` order: header, then the entries
    as CSV, exactly as :func:`list_bytes` writes them (csv's minimal quoting, as pandas
    uses). The EDC rebuilds the file from its stored entries with this before every
    allocation, inside the write lock, so it avoids building a pandas frame."""
    out = io.StringIO()
    if header:
        out.write(header.text())
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def list_bytes(frame: pd.DataFrame, header: ListHeader | None) -> bytes:
    """The file's bytes: header, then the entries as CSV (no header: a list written before
    lists had one). :func:`rows_bytes` builds the same bytes from stored tuples without
    pandas, for the check before every allocation; a test holds the two byte-identical."""
    body = frame[list(COLUMNS)].to_csv(index=False, lineterminator="\n")
    return ((header.text() if header else "") + body).encode("utf-8")


def write_list(frame: pd.DataFrame, path: str | Path, protocol: str, seed: SeedKind) -> str:
    """Write the list under a header with a fresh random salt; return its SHA-256 commitment."""
    p = Path(path)
    data = list_bytes(frame, ListHeader(protocol, seed, secrets.token_hex(SEED_BITS // 8)))
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    except OSError as exc:
        raise InputError(f"--out {p}: cannot write ({exc.strerror or exc})") from None
    return hashlib.sha256(data).hexdigest()


def _split(data: bytes) -> tuple[list[str], bytes]:
    """The leading ``#`` lines of a list file (decoded) and the CSV bytes after them."""
    lines: list[str] = []
    rest = data
    while rest.startswith(b"#"):
        line, _, rest = rest.partition(b"\n")
        lines.append(line.decode("utf-8", errors="replace"))
    return lines, rest


def parse_header(data: bytes, source: str) -> ListHeader:
    """The header of a list file's bytes; InputError when it is missing or malformed."""
    lines, _ = _split(data)
    fields: dict[str, str] = {}
    for line in lines:
        m = re.match(r"^# (protocol|seed|salt): (.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    seed = fields.get("seed", "").split(" ", 1)[0]
    salt = fields.get("salt", "")
    if (
        not lines
        or lines[0] != _MAGIC
        or "protocol" not in fields
        or seed not in get_args(SeedKind)
        or not re.fullmatch(r"[0-9a-f]{32,}", salt)
    ):
        raise InputError(
            f"{source}: no valid list header ({_MAGIC!r}, protocol, seed, a salt of at least "
            "32 hex digits); write the list with frailtrial randomization generate"
        )
    return ListHeader(fields["protocol"], cast(SeedKind, seed), salt)


def parse_list(data: bytes, source: str) -> pd.DataFrame:
    """A list file's bytes (as written by :func:`write_list`, or uploaded) as a frame;
    ``source`` names it in errors."""
    _, body = _split(data)
    try:
        frame = pd.read_csv(
            io.BytesIO(body), dtype={"stratum": str, "arm": str, "randomization_number": str}
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
    """SHA-256 (hex) of the list file's bytes (header with its salt included): the value
    published before enrolment."""
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
