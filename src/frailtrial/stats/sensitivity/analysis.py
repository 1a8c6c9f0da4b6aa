"""The analysis model: an ANCOVA at each visit on every completed data set, batched.

As rbmi's ``ancova``: at each visit, least squares of the outcome on the analysis design
(e.g. ``CHANGE ~ THERAPY + BASVAL``); the least-squares mean of a group is the average
prediction over the data set's subjects with the group set to that level (rbmi's
"counterfactual" weights; for a design without interactions, the prediction at the
covariates' means), and the effect of a group is its least-squares mean minus the
reference group's. A sample is given by how often each subject is in it (0 for a
jackknife's left-out subject, 2 for a subject drawn twice by a bootstrap): weighted sums
with these counts equal the sums over the sample's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.sensitivity.layout import Layout

Array = NDArray[Any]


@dataclass(frozen=True)
class Ancova:
    """Per sample (B), group level (G) and visit (T)."""

    lsmean: Array  # (B, G, T)
    lsmean_se: Array  # (B, G, T)
    effect: Array  # (B, G-1, T) each non-reference level minus the reference
    effect_se: Array  # (B, G-1, T)
    df: Array  # (B,) residual degrees of freedom


def ancova(layout: Layout, y: Array, counts: Array) -> Ancova:
    """ANCOVA at each visit of the completed outcomes ``y`` (B, n, T) of samples with
    subject multiplicities ``counts`` (B, n) (batched matrix products over visits)."""
    z, n_q = layout.z, layout.z.shape[2]
    n, t = z.shape[0], z.shape[1]
    b = y.shape[0]
    outer = (z[..., :, None] * z[..., None, :]).reshape(n, -1)
    xtx = (counts @ outer).reshape(b, t, n_q, n_q)
    zt = z.transpose(1, 0, 2)  # (T, n, q)
    xty = np.matmul((counts[..., None] * y).transpose(2, 0, 1), zt)  # (T, B, q)
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError as exc:
        raise InputError("the analysis model's design is singular in a sample") from exc
    coef = np.matmul(inv, xty.transpose(1, 0, 2)[..., None])[..., 0]  # (B, T, q)
    fitted = np.matmul(zt, coef.transpose(1, 2, 0))  # (T, n, B)
    resid = y - fitted.transpose(2, 1, 0)
    rss = np.matmul(counts[:, None, :], resid * resid)[:, 0]  # (B, T)
    n_obs = counts.sum(axis=1)
    df = n_obs - n_q
    if (df <= 0).any():
        raise InputError("the analysis model has no residual degrees of freedom")
    s2 = rss / df[:, None]
    g = layout.z_level.shape[0]
    lmat = (counts @ layout.z_level.transpose(1, 0, 2, 3).reshape(n, -1)).reshape(b, g, t, n_q)
    lmat /= n_obs[:, None, None, None]
    diff = lmat[:, 1:] - lmat[:, :1]
    return Ancova(
        lsmean=(lmat * coef[:, None]).sum(axis=-1),
        lsmean_se=_se(lmat, inv, s2),
        effect=(diff * coef[:, None]).sum(axis=-1),
        effect_se=_se(diff, inv, s2),
        df=df,
    )


def _se(lmat: Array, inv: Array, s2: Array) -> Array:
    """sqrt(l' (Z'Z)^-1 l s2) for contrast rows ``lmat`` (B, G, T, q)."""
    quad = (np.matmul(inv[:, None], lmat[..., None])[..., 0] * lmat).sum(axis=-1)
    return np.sqrt(np.maximum(quad, 0.0) * s2[:, None, :])
