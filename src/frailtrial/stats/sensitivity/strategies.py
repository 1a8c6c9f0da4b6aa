"""Intercurrent-event strategies: the mean each subject's missing visits are imputed from.

Strategies as in R rbmi (Carpenter, Roger and Kenward 2013), with one visit covariance
shared by the groups, so only the mean changes (rbmi's ``compute_sigma`` then returns
that covariance). For a subject whose intercurrent event (ICE) is at visit ``k`` (0-based;
visits ``< k`` are "MAR" visits):

- ``MAR``: the subject's own group mean at every visit;
- ``TP`` (treatment policy): data observed after the ICE are kept and used; missing ones
  are imputed under MAR (so it is ``MAR`` for the model);
- ``JR`` (jump to reference): own mean before the ICE, the reference group's after it;
- ``CR`` (copy reference): the reference group's mean at every visit;
- ``CIR`` (copy increments in reference): own mean up to the last visit before the ICE,
  then that value plus the reference group's increments from that visit;
- ``LMCF`` (last mean carried forward): own mean at the last visit before the ICE.

Outcomes observed after an ICE with a non-MAR strategy (JR, CR, CIR, LMCF) are left out of
the imputation model's fit, as rbmi does; they are still conditioned on and analysed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError

Array = NDArray[Any]
STRATEGIES = ("MAR", "TP", "JR", "CR", "CIR", "LMCF")
NON_MAR = frozenset({"JR", "CR", "CIR", "LMCF"})
_ALIASES = {"TREATMENT POLICY": "TP", "TREATMENT-POLICY": "TP", "TREATMENT_POLICY": "TP"}


def strategy_name(value: object, where: str) -> str:
    """Canonical strategy name (case-insensitive; ``treatment policy`` = ``TP``)."""
    text = str(value).strip().upper()
    text = _ALIASES.get(text, text)
    if text not in STRATEGIES:
        raise InputError(
            f"{where}: unknown strategy {value!r}; allowed: {', '.join(STRATEGIES)} "
            "(TP = treatment policy)"
        )
    return text


def mar_visits(ice: NDArray[np.int64], codes: NDArray[np.int64], n_visits: int) -> Array:
    """(n, T) True where a visit is under MAR: before the ICE, or always for MAR/TP."""
    non_mar = np.isin(codes, [STRATEGIES.index(s) for s in NON_MAR])
    before = np.arange(n_visits)[None, :] < ice[:, None]
    return np.where(non_mar[:, None], before, True)


def strategy_mean(
    own: Array, ref: Array, ice: NDArray[np.int64], codes: NDArray[np.int64]
) -> Array:
    """The mean (..., n, T) each subject is imputed from, given its own group's mean ``own``
    and the reference group's ``ref`` (same shape; the subject's covariates), its ICE visit
    ``ice`` (n,) (T without ICE) and strategy codes (n,) (indices into STRATEGIES)."""
    out = own.copy()
    for name in ("JR", "CR", "CIR", "LMCF"):
        rows = np.flatnonzero(codes == STRATEGIES.index(name))
        if rows.size:
            out[..., rows, :] = _borrowed(name, own[..., rows, :], ref[..., rows, :], ice[rows])
    return out


def _borrowed(name: str, own: Array, ref: Array, ice: NDArray[np.int64]) -> Array:
    """Means (..., k, T) of k subjects with non-MAR strategy ``name``."""
    t = own.shape[-1]
    before = np.arange(t)[None, :] < ice[:, None]  # (k, T)
    if name == "CR":
        return ref
    if name == "JR":
        return np.where(before, own, ref)
    rows = np.arange(own.shape[-2])
    last = np.clip(ice - 1, 0, t - 1)
    own_last = own[..., rows, last][..., None]  # own mean at the last visit before the ICE
    if name == "LMCF":
        return np.where(before, own, own_last)
    ref_last = ref[..., rows, last][..., None]
    return np.where(before, own, np.where(ice[:, None] > 0, own_last + ref - ref_last, ref))
