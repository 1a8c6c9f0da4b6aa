"""Allocation of virtual participants by the protocol's own scheme, with the EDC's code.

Unstratified lists: participant i takes entry i of the seed's list. Stratified lists and
minimization need each participant's stratification factors before the arm, so these are
drawn first (from the calibration pooled over arms, as randomization makes them independent
of arm), then the arm comes from :func:`~frailtrial.randomization.lists.take_in_order` (next
unused entry of the stratum, as the EDC takes it) or from
:func:`~frailtrial.randomization.minimization.next_arm` (the EDC's step) with a secret
derived from the simulation seed: a simulated trial is a rehearsal, so its randomness may be
reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.randomization import generate_list, take_in_order
from frailtrial.randomization.lists import UNSTRATIFIED, stratum_levels
from frailtrial.randomization.minimization import next_arm, rehearsal_secret
from frailtrial.simulate.calibration import Calibration, Categorical


@dataclass(frozen=True)
class Allocated:
    """Arms and randomization numbers in randomization order, each participant's stratum,
    site, and the stratification characteristics drawn before allocation."""

    arms: np.ndarray
    numbers: np.ndarray
    strata: np.ndarray
    sites: np.ndarray
    given: dict[str, np.ndarray]


def _factor_values(
    protocol: Protocol, cal: Calibration, n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Each factor's label per participant, the characteristics' raw values, and sites."""
    specs = {s.name: s for s in cal.baseline}
    weights = np.array([a.ratio for a in protocol.arms], dtype=float)
    weights /= weights.sum()
    sites = np.full(n, protocol.identity.sites[0], dtype=object)
    labels: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for factor, allowed in stratum_levels(protocol).items():
        if factor == "site":
            sites = np.array(allowed, dtype=object)[rng.integers(0, len(allowed), size=n)]
            labels[factor] = sites
            continue
        spec = specs.get(factor)
        if not isinstance(spec, Categorical):
            raise InputError(
                f"randomization.strata: {factor!r} needs levels in the calibration's baseline "
                "to be simulated before allocation"
            )
        probs = sum(w * spec.probs[a] for w, a in zip(weights, protocol.arm_names, strict=True))
        values = np.array(spec.levels, dtype=object)[rng.choice(len(spec.levels), size=n, p=probs)]
        raw[factor] = values
        text = (
            np.where(values.astype(int) == 1, "yes", "no").astype(object)
            if spec.kind == "binary"
            else values.astype(str).astype(object)
        )
        unknown = sorted(set(text) - set(allowed))
        if unknown:
            raise InputError(
                f"calibration baseline {factor}: level {unknown[0]!r} is not one of the "
                f"protocol's levels ({', '.join(allowed)})"
            )
        labels[factor] = text
    return labels, raw, sites


def allocate(
    protocol: Protocol, cal: Calibration, seed: int, n: int, rng: np.random.Generator
) -> Allocated:
    """Allocate ``n`` participants in randomization order by the protocol's scheme."""
    r = protocol.randomization
    if not r.strata and r.scheme != "minimization":
        lst = generate_list(protocol, seed, n)
        return Allocated(
            lst["arm"].to_numpy(dtype=object),
            lst["randomization_number"].to_numpy(dtype=object),
            np.full(n, UNSTRATIFIED, dtype=object),
            np.full(n, protocol.identity.sites[0], dtype=object),
            {},
        )
    labels, raw, sites = _factor_values(protocol, cal, n, rng)
    factors = list(labels)
    strata = (
        np.array(["|".join(f"{f}={labels[f][i]}" for f in factors) for i in range(n)], dtype=object)
        if factors
        else np.full(n, UNSTRATIFIED, dtype=object)
    )
    if r.scheme == "minimization":
        secret = rehearsal_secret(seed)
        history: list[dict[str, str]] = []
        arms: list[str] = []
        for i in range(n):
            levels = {f: str(labels[f][i]) for f in factors}
            arms.append(next_arm(protocol, history, arms, levels, secret))
            history.append(levels)
        numbers = np.array([f"M{i:04d}" for i in range(1, n + 1)], dtype=object)
        return Allocated(np.array(arms, dtype=object), numbers, strata, sites, raw)
    taken = take_in_order(generate_list(protocol, seed, n), list(strata))
    return Allocated(
        taken["arm"].to_numpy(dtype=object),
        taken["randomization_number"].to_numpy(dtype=object),
        strata,
        sites,
        raw,
    )
