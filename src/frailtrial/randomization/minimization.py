"""Pocock-Simon minimization (Pocock & Simon 1975, Biometrics 31:103-15) as an allocation scheme.

For each candidate arm the new participant is added hypothetically; for every factor the
counts of earlier participants sharing the new participant's level are divided by the arm's
ratio, and the imbalance is their range. The arm(s) with the smallest weighted total are
preferred: one of them is chosen with probability ``p`` (ties at random), another arm otherwise.
Pure: the caller passes the history and a numpy Generator, so a seed reproduces every choice.
:func:`next_arm` is the one allocation step the EDC and the simulator share: its random
numbers come from a secret (128 bits, never derived from the trial's name) and the count of
earlier allocations, so that nobody without the secret can replay the sequence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from frailtrial.errors import InputError
from frailtrial.protocol import Protocol


def imbalance(
    history_levels: Sequence[Mapping[str, str]],
    history_arms: Sequence[str],
    levels: Mapping[str, str],
    arms: Sequence[str],
    ratios: Sequence[int] | None = None,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Weighted total imbalance (range of ratio-scaled counts) if the new one joined each arm."""
    if len(history_levels) != len(history_arms):
        raise InputError("minimization: history levels and arms differ in length")
    ratio = np.asarray(ratios if ratios is not None else [1] * len(arms), dtype=float)
    if ratio.shape != (len(arms),) or (ratio <= 0).any():
        raise InputError("minimization: one positive ratio per arm is needed")
    index = {a: i for i, a in enumerate(arms)}
    unknown = [a for a in history_arms if a not in index]
    if unknown:
        raise InputError(f"minimization: history arm {unknown[0]!r} is not one of {list(arms)}")
    arm_idx = np.fromiter((index[a] for a in history_arms), dtype=int, count=len(history_arms))
    totals = np.zeros(len(arms))
    for factor, level in levels.items():
        w = 1.0 if weights is None else float(weights.get(factor, 1.0))
        same = np.fromiter(
            (h.get(factor) == level for h in history_levels), dtype=bool, count=len(history_levels)
        )
        counts = np.bincount(arm_idx[same], minlength=len(arms)).astype(float)
        hypothetical = (counts[None, :] + np.eye(len(arms))) / ratio[None, :]
        totals += w * (hypothetical.max(axis=1) - hypothetical.min(axis=1))
    return totals


def assign(
    history_levels: Sequence[Mapping[str, str]],
    history_arms: Sequence[str],
    levels: Mapping[str, str],
    arms: Sequence[str],
    rng: np.random.Generator,
    ratios: Sequence[int] | None = None,
    weights: Mapping[str, float] | None = None,
    p: float = 0.8,
) -> str:
    """The arm for a new participant with factor ``levels`` given everyone allocated before."""
    if not 0 < p <= 1:
        raise InputError(f"minimization: p={p} must lie in (0, 1]")
    if len(arms) < 2:
        raise InputError("minimization needs at least two arms")
    totals = imbalance(history_levels, history_arms, levels, arms, ratios, weights)
    best = np.flatnonzero(np.isclose(totals, totals.min()))
    others = np.setdiff1d(np.arange(len(arms)), best)
    u, v = rng.random(), rng.random()
    pool = best if (u < p or others.size == 0) else others
    return arms[int(pool[int(v * pool.size)])]


def next_arm(
    protocol: Protocol,
    history_levels: Sequence[Mapping[str, str]],
    history_arms: Sequence[str],
    levels: Mapping[str, str],
    secret: int,
) -> str:
    """The protocol's minimization step for the next participant (factor ``levels``), with
    the protocol's ratios and ``minimization_p``, its randomness drawn from ``secret`` and
    the number of earlier allocations."""
    rng = np.random.default_rng([secret, len(history_arms)])
    return assign(
        history_levels,
        history_arms,
        levels,
        protocol.arm_names,
        rng,
        ratios=[a.ratio for a in protocol.arms],
        p=protocol.randomization.minimization_p,
    )


def rehearsal_secret(seed: int) -> int:
    """A 128-bit minimization secret derived from a simulation seed: for a simulated trial
    (a rehearsal) and for loading it into a store, never for a live trial."""
    words = np.random.SeedSequence([seed, 0x313]).generate_state(4)
    return int.from_bytes(words.astype(">u4").tobytes(), "big")
