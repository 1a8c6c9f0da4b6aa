"""The layout of a long frame (mmrm_data.build_frame): rows that are not used (a missing
outcome, covariate, visit, arm or subject) stay in place and are skipped, so the fits
must equal those of the same data with those rows deleted first, rows in any order, for
a separable design and for one with a covariate that varies within subjects (built from
the used rows only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats.mmrm import fit_many

VISITS = ["Baseline", "Month 1", "Month 3", "Month 6"]


def _long(n_sets: int = 6, n: int = 24, seed: int = 3) -> pd.DataFrame:
    """Three arms, four visits named as a site names them, subjects numbered across data
    sets (100 + ...), a baseline covariate and a time-varying one; then holes."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sets):
        for i in range(n):
            arm = ["Placebo", "100M", "200M"][i % 3]
            base = rng.normal(300, 60)
            for j, v in enumerate(VISITS):
                dose = 0.0 if arm == "Placebo" else rng.normal(1.0, 0.1) * j
                y = 0.4 * base + 5 * j + 3 * dose + rng.normal(0, 20)
                rows.append((f"T{s}", 100 + 37 * s + i, v, arm, base, dose, y))
    data = pd.DataFrame(rows, columns=["trial", "id", "visit", "arm", "base", "dose", "y"])
    holes = rng.uniform(size=len(data))
    data.loc[holes < 0.10, "y"] = np.nan
    data.loc[(holes >= 0.10) & (holes < 0.12), "dose"] = np.nan
    data.loc[(holes >= 0.12) & (holes < 0.13), "visit"] = None
    data.loc[(holes >= 0.13) & (holes < 0.14), "arm"] = None
    data.loc[(holes >= 0.14) & (holes < 0.15), "id"] = np.nan  # ids become floats
    data.loc[(holes >= 0.15) & (holes < 0.16), "base"] = np.nan
    return data


@pytest.mark.parametrize("formula", ["y ~ base + arm*visit", "y ~ base + dose + arm*visit"])
def test_rows_left_out_in_place_equal_rows_deleted(formula: str) -> None:
    data = _long()
    needed = ["y", "base", "visit", "arm", "id"] + (["dose"] if "dose" in formula else [])
    kept = data.dropna(subset=needed)
    assert len(kept) < len(data) * 0.9
    shuffled = data.sample(frac=1.0, random_state=1)  # rows and data sets interleaved
    args = {"formula": formula, "subject": "id", "visit": "visit", "dataset": "trial"}
    with_holes = fit_many(shuffled, **args)
    deleted = fit_many(kept, **args)
    order = list(dict.fromkeys(shuffled["trial"]))  # results follow first appearance
    by_name = dict(zip(dict.fromkeys(kept["trial"]), deleted, strict=True))
    for name, fit in zip(order, with_holes, strict=True):
        ref = by_name[name]
        assert fit.converged and ref.converged
        assert fit.n_obs == ref.n_obs == int((kept["trial"] == name).sum())
        np.testing.assert_allclose(fit.beta, ref.beta, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(fit.sigma, ref.sigma, rtol=1e-8)
        assert fit.neg2loglik == pytest.approx(ref.neg2loglik, rel=1e-12)
    assert ("dose" in formula) == (with_holes[0].frame.batch.kron is None)


def test_a_second_row_for_a_subject_and_visit_is_named() -> None:
    data = _long(n_sets=2).dropna()
    extra = data.iloc[[len(data) - 5]]
    with pytest.raises(InputError, match=r"has more than one row at visit 'Month 3'"):
        fit_many(pd.concat([data, extra]), "y ~ base + arm*visit", "id", "visit", dataset="trial")


def test_data_set_means_of_numeric_columns_count_used_rows_only() -> None:
    data = _long(n_sets=3)
    fits = fit_many(data, "y ~ base + arm*visit", "id", "visit", dataset="trial")
    used = data.dropna(subset=["y", "base", "visit", "arm", "id"])
    want = used.groupby("trial", sort=False)["base"].mean().to_numpy()
    np.testing.assert_allclose(fits[0].frame.numerics["base"], want, rtol=1e-12)


def test_categorical_columns_are_coded_by_their_codes_with_the_same_fits() -> None:
    """A Categorical (unused categories, categories in another order than the text's
    natural order, missing values) is coded from its codes, not as text: the same fits as
    plain text (the declared order makes other reference levels: the same likelihood and
    covariance, other coefficients)."""
    data = _long(n_sets=4)
    cat = data.assign(
        arm=pd.Categorical(data["arm"], categories=["200M", "Unused", "Placebo", "100M"]),
        visit=pd.Categorical(data["visit"], categories=VISITS[::-1]),
        id=pd.Categorical(data["id"]),
    )
    args = {"subject": "id", "visit": "visit", "dataset": "trial"}
    plain = fit_many(data, "y ~ base + arm*visit", **args)
    coded = fit_many(cat, "y ~ base + arm*visit", **args)
    assert coded[0].levels()["arm"] == ["200M", "Placebo", "100M"]
    assert coded[0].levels()["visit"] == VISITS[::-1]
    for a, b in zip(plain, coded, strict=True):
        assert a.n_obs == b.n_obs and a.converged and b.converged
        scale = np.abs(a.sigma).max()  # reversed visits; the same optimum to its tolerance
        np.testing.assert_allclose(a.sigma, b.sigma[::-1, ::-1], rtol=0, atol=1e-5 * scale)
        assert a.neg2loglik == pytest.approx(b.neg2loglik, rel=1e-10)
    natural = data.assign(arm=data["arm"].astype("category"))  # the text's own order
    for a, b in zip(plain, fit_many(natural, "y ~ base + arm*visit", **args), strict=True):
        assert a.terms == b.terms
        np.testing.assert_array_equal(a.beta, b.beta)  # the same codes: the same numbers
    late = cat.copy()
    late["arm"] = late["arm"].cat.set_categories([*late["arm"].cat.categories, "300M"])
    late.loc[late.index[-1], "arm"] = "300M"
    with pytest.raises(InputError, match=r"column arm has value '300M' not seen in the first"):
        fit_many(late, "y ~ base + arm*visit", **args)
