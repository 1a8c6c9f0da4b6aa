"""The analysis model: an ANCOVA at each visit on every completed data set, batched.

As rbmi's ``ancova``: at each visit, least squares of the outcome on the analysis design
(e.g. ``CHANGE ~ THERAPY + BASVAL``); the least-squares mean of a group is the average
prediction over the data set's subjects with the group set to that level (rbmi's
"counterfactual" weights; for a design without interactions, the prediction at the
covariates' means), and the effect of a group is its least-squares mean minus the
reference group's. A sample is given by how often each subject is in it (0 for a
jackknife's left-out subject, 2 for a subject drawn twice by a bootstrap): weighted sums
with these counts equal the sums over the sample's rows.

The ANCOVA is linear in the outcomes, and a delta adds ``delta * shift`` to them (1 at the
imputed visits of the non-reference groups), so :class:`AncovaParts` keeps, per sample,
the coefficients of the outcomes and of the shift and the three residual sums of squares
that give the analysis at any delta without the completed data sets. They come from the
completed data of a chunk of samples (:func:`ancova_parts`) or, for a conditional-mean
jackknife, from per-pattern sums (:func:`jackknife_parts`): its n + 1 completed data sets
would take O(n^2) time and memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.sensitivity.imputation import missing_patterns, regression, strategy_design
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


@dataclass(frozen=True)
class AncovaParts:
    """Per sample (B), visit (T) and analysis-design column (q): the ANCOVA at any delta."""

    inv: Array  # (B, T, q, q) (Z' C Z)^-1, C the sample's subject counts
    coef: Array  # (B, T, q) coefficients of the outcomes
    coef_shift: Array  # (B, T, q) coefficients of the shift
    rss: Array  # (B, T, 3) residual sums: outcome^2, outcome x shift, shift^2
    lmat: Array  # (B, G, T, q) least-squares mean rows of each group level
    df: Array  # (B,) residual degrees of freedom

    @property
    def n_sets(self) -> int:
        return int(self.coef.shape[0])

    def at(self, delta: float) -> Ancova:
        """The ANCOVA of the outcomes plus ``delta`` times the shift."""
        coef = self.coef + delta * self.coef_shift
        r = self.rss
        rss = r[..., 0] + 2.0 * delta * r[..., 1] + delta * delta * r[..., 2]
        s2 = np.maximum(rss, 0.0) / self.df[:, None]
        diff = self.lmat[:, 1:] - self.lmat[:, :1]
        return Ancova(
            lsmean=(self.lmat * coef[:, None]).sum(axis=-1),
            lsmean_se=_se(self.lmat, self.inv, s2),
            effect=(diff * coef[:, None]).sum(axis=-1),
            effect_se=_se(diff, self.inv, s2),
            df=self.df,
        )


def concatenate(parts: list[AncovaParts]) -> AncovaParts:
    """The parts of consecutive chunks of samples as one."""
    if len(parts) == 1:
        return parts[0]
    fields = ("inv", "coef", "coef_shift", "rss", "lmat", "df")
    return AncovaParts(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _check_df(df: Array) -> None:
    if (df <= 0).any():
        raise InputError("the analysis model has no residual degrees of freedom")


def _inverse(xtx: Array) -> Array:
    try:
        return np.linalg.inv(xtx)
    except np.linalg.LinAlgError as exc:
        raise InputError("the analysis model's design is singular in a sample") from exc


def ancova_parts(layout: Layout, y: Array, shift: Array, counts: Array) -> AncovaParts:
    """:class:`AncovaParts` of the completed outcomes ``y`` (B, n, T) of samples with
    subject multiplicities ``counts`` (B, n), ``shift`` (n, T) (batched matrix products
    over visits)."""
    z, n_q = layout.z, layout.z.shape[2]
    n, t = z.shape[0], z.shape[1]
    b = y.shape[0]
    outer = (z[..., :, None] * z[..., None, :]).reshape(n, -1)
    inv = _inverse((counts @ outer).reshape(b, t, n_q, n_q))
    zt = z.transpose(1, 0, 2)  # (T, n, q)

    def fit(values: Array) -> tuple[Array, Array]:
        xty = np.matmul((counts[..., None] * values).transpose(2, 0, 1), zt)  # (T, B, q)
        coef = np.matmul(inv, xty.transpose(1, 0, 2)[..., None])[..., 0]  # (B, T, q)
        fitted = np.matmul(zt, coef.transpose(1, 2, 0))  # (T, n, B)
        return coef, values - fitted.transpose(2, 1, 0)

    coef, e0 = fit(y)
    coef_shift, e1 = fit(np.broadcast_to(shift, y.shape))
    rss = np.stack(
        [np.matmul(counts[:, None, :], u * w)[:, 0] for u, w in ((e0, e0), (e0, e1), (e1, e1))],
        axis=-1,
    )
    n_obs = counts.sum(axis=1)
    df = n_obs - n_q
    _check_df(df)
    g = layout.z_level.shape[0]
    lmat = (counts @ layout.z_level.transpose(1, 0, 2, 3).reshape(n, -1)).reshape(b, g, t, n_q)
    lmat /= n_obs[:, None, None, None]
    return AncovaParts(inv, coef, coef_shift, rss, lmat, df)


def jackknife_parts(layout: Layout, beta: Array, sigma: Array, shift: Array) -> AncovaParts:
    """:class:`AncovaParts` of the conditional-mean imputations of a jackknife (sample 0
    the full data, sample ``j + 1`` without subject j) from per-pattern sums.

    Within a missingness pattern k, a subject's completed outcomes are linear in its data:
    ``y_hat = G y~ + (I - G) A beta``, with ``y~`` the outcomes (0 where missing), ``A`` its
    strategy design (:func:`strategy_design`) and ``G`` the sample's pattern operator (the
    identity at observed visits, the regression on the observed ones at missing visits).
    At visit t, the outcome and the ANCOVA residual are so inner products of the subject's
    vector ``u = [z_t, y~, h, 1, shift_t]`` with sample-wise coefficients (``h`` the
    coordinates of ``vec(A)`` less the pattern's mean, in the few directions the pattern's
    subjects span: :func:`_row_space`), and the sums
    the ANCOVA needs come from each pattern's mean and centred second moments of ``u``
    (centred: residual sums do not cancel against large means); each sample then
    removes its one left-out subject's terms."""
    n, t, q = layout.z.shape
    if n - 1 - q <= 0:
        raise InputError("the analysis model has no residual degrees of freedom")
    design = strategy_design(layout)
    p = design.shape[2]
    b = beta.shape[0]
    ytil = np.nan_to_num(layout.y)
    left = np.arange(1, b)
    patterns = []
    for m, rows in missing_patterns(layout):
        rows_a = design[rows].reshape(rows.size, t * p)
        centre = rows_a.mean(axis=0)
        basis = _row_space(rows_a - centre)  # vec(A) = centre + basis h
        fixed = np.hstack([ytil[rows], (rows_a - centre) @ basis, np.ones((rows.size, 1))])
        u = np.concatenate(
            [
                layout.z[rows].transpose(1, 0, 2),
                np.broadcast_to(fixed, (t, *fixed.shape)),
                shift[rows].T[..., None],
            ],
            axis=2,
        )  # (T, k, q + T + r + 2): u of the pattern's k subjects at each visit
        patterns.append(
            (rows, _operator(sigma, m), centre.reshape(t, p), basis.reshape(t, p, -1), u)
        )

    def outcome_coefs(op: Array, centre: Array, basis: Array) -> Array:
        """(T, B, T + r + 2) coefficients of ``[y~, h, 1, shift]`` giving y_hat at each
        visit: row t of G; row t of I - G times beta projected on the basis; the same
        times the pattern's mean strategy design (contiguous, for BLAS)."""
        resid_op = np.eye(t) - op
        projected = np.einsum("sjr,bj->bsr", basis, beta)  # basis' (e_s x beta), per visit s
        mean = np.matmul(resid_op, projected).transpose(1, 0, 2)  # (T, B, r)
        level = np.matmul(resid_op, (beta @ centre.T)[..., None]).transpose(1, 0, 2)  # (T, B, 1)
        return np.concatenate([op.transpose(1, 0, 2), mean, level, np.zeros((t, b, 1))], axis=2)

    # the outcome's sums at each visit: X'y (with the shift's) and the left-out terms
    xtx = np.broadcast_to(np.einsum("ntq,ntr->tqr", layout.z, layout.z), (b, t, q, q)).copy()
    xtx[left] -= layout.z[:, :, :, None] * layout.z[:, :, None, :]
    xty = np.zeros((t, b, q))
    xty_shift = np.broadcast_to(np.einsum("ntq,nt->tq", layout.z, shift), (b, t, q)).copy()
    xty_shift[left] -= layout.z * shift[:, :, None]
    y_left = np.zeros((b, t))  # the left-out subject's completed outcome
    for rows, op, centre, basis, u in patterns:
        w = outcome_coefs(op, centre, basis)
        xty += np.matmul(w, np.matmul(u[..., q:].transpose(0, 2, 1), u[..., :q]))
        y_left[rows + 1] = np.einsum("tkd,tkd->kt", u[..., q:], w[:, rows + 1])
    xty = xty.transpose(1, 0, 2)
    xty[left] -= layout.z * y_left[left, :, None]
    inv = _inverse(xtx)
    coef = np.matmul(inv, xty[..., None])[..., 0]
    coef_shift = np.matmul(inv, xty_shift[..., None])[..., 0]

    # residual sums: theta' u is the residual of the outcome (theta0) or of the shift (theta1)
    rss = np.zeros((t, b, 3))
    minus_coef = -coef.transpose(1, 0, 2)
    for rows, op, centre, basis, u in patterns:
        mean = u.mean(axis=1)  # (T, D)
        cen = u - mean[:, None]
        moment = np.matmul(cen.transpose(0, 2, 1), cen)  # (T, D, D)
        theta0 = np.concatenate([minus_coef, outcome_coefs(op, centre, basis)], axis=2)
        theta1 = np.zeros_like(theta0)
        theta1[..., :q] = -coef_shift.transpose(1, 0, 2)
        theta1[..., -1] = 1.0
        m0, m1 = np.matmul(theta0, moment), np.matmul(theta1, moment)
        a0, a1 = (theta0 * mean[:, None]).sum(axis=2), (theta1 * mean[:, None]).sum(axis=2)
        k = rows.size
        rss[..., 0] += (m0 * theta0).sum(axis=2) + k * a0 * a0
        rss[..., 1] += (m0 * theta1).sum(axis=2) + k * a0 * a1
        rss[..., 2] += (m1 * theta1).sum(axis=2) + k * a1 * a1
    rss = rss.transpose(1, 0, 2)
    e0 = y_left[left] - (layout.z * coef[left]).sum(axis=2)
    e1 = shift - (layout.z * coef_shift[left]).sum(axis=2)
    rss[left] -= np.stack([e0 * e0, e0 * e1, e1 * e1], axis=-1)

    level_sum = layout.z_level.sum(axis=1)  # (G, T, q)
    lmat = np.broadcast_to(level_sum, (b, *level_sum.shape)).copy()
    lmat[left] -= layout.z_level.transpose(1, 0, 2, 3)
    n_obs = np.full(b, n - 1.0)
    n_obs[0] = n
    lmat /= n_obs[:, None, None, None]
    df = n_obs - q
    _check_df(df)
    return AncovaParts(inv, coef, coef_shift, rss, lmat, df)


def _row_space(a: Array) -> Array:
    """(columns, r) orthonormal basis of the row space of ``a``: its right singular vectors
    of singular values above 1e-12 of the largest (the rows' parts along the others are
    below rounding)."""
    if a.size == 0:
        return np.zeros((a.shape[1], 0))
    _, values, right = np.linalg.svd(a, full_matrices=False)
    rank = int((values > 1e-12 * values[0]).sum()) if values[0] > 0 else 0
    return np.ascontiguousarray(right[:rank].T)


def _operator(sigma: Array, m: NDArray[np.bool_]) -> Array:
    """(B, T, T) conditional-mean operator G of missingness pattern ``m``: identity rows
    at the observed visits, the regression on the observed visits at the missing ones."""
    b, t = sigma.shape[0], sigma.shape[1]
    op = np.zeros((b, t, t))
    obs = np.flatnonzero(~m)
    op[:, obs, obs] = 1.0
    if m.any() and obs.size:
        op[np.ix_(np.arange(b), np.flatnonzero(m), obs)] = regression(sigma, m)
    return op


def _se(lmat: Array, inv: Array, s2: Array) -> Array:
    """sqrt(l' (Z'Z)^-1 l s2) for contrast rows ``lmat`` (B, G, T, q)."""
    quad = (np.matmul(inv[:, None], lmat[..., None])[..., 0] * lmat).sum(axis=-1)
    return np.sqrt(np.maximum(quad, 0.0) * s2[:, None, :])
