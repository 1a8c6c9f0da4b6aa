"""Empirical (sandwich) covariance and type III tests against SAS PROC MIXED listings.

``tests/reference/sas/robust/empirical_*``: ``PROC MIXED ... EMPIRICAL; MODEL FEV1 = ARMCD;
REPEATED AVISIT / TYPE=...`` on fev_data (ddfm defaults to between-within with EMPIRICAL).
``tests/reference/sas/anova/test3_*.csv``: type III tests with ``ddfm=satterthwaite``, ar(1).
``tests/reference/sas/kr_*.txt``: type 3 tests with ``ddfm=kr``. Sources: sas/README.md.

SAS stops its REML iterations slightly short of the optimum (see test_mmrm_sas.py): the
covariance of beta agrees to 1e-4 relative (to 1e-8 for cs, whose optimum SAS reaches).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats.mmrm import MmrmFit, mmrm

SAS = Path(__file__).parent / "reference" / "sas"
ROBUST = SAS / "robust"
# SAS's names -> ours
STRUCTURES = {
    "us": "us",
    "cs": "cs",
    "csh": "csh",
    "ar1": "ar1",
    "arh1": "ar1h",
    "toep": "toep",
    "toeph": "toeph",
    "adh": "adh",
}


@cache
def _fev() -> pd.DataFrame:
    fev = pd.read_csv(SAS.parent / "fev_data.csv")
    fev["ARMCD"] = pd.Categorical(fev["ARMCD"], ["PBO", "TRT"])
    return fev


@cache
def _fit(formula: str, covariance: str) -> MmrmFit:
    return mmrm(_fev(), formula, "USUBJID", "AVISIT", covariance)


def _type3_line(path: Path, effect: str) -> list[str]:
    block = path.read_text().split("Type 3 Tests of Fixed Effects")[1]
    line = next(ln for ln in block.splitlines() if ln.split()[:1] == [effect])
    return line.split()


@pytest.mark.parametrize("sas_name", list(STRUCTURES))
def test_empirical_covariance_matches_sas(sas_name: str) -> None:
    fit = _fit("FEV1 ~ ARMCD", STRUCTURES[sas_name])
    # SAS codes PBO last (zero row and column): its Intercept and ARMCD TRT are ours
    sas = pd.read_csv(ROBUST / f"empirical_{sas_name}_covb.csv")[["Col1", "Col2"]].to_numpy()
    ours = fit.beta_vcov("sandwich", "between-within")
    tol = 1e-8 if sas_name == "cs" else 1e-4
    assert np.abs(ours - sas[:2]).max() <= tol * np.abs(sas[:2]).max()
    assert not np.allclose(ours, fit.vcov, rtol=1e-3)  # it is not the model-based one


@pytest.mark.parametrize("sas_name", list(STRUCTURES))
def test_empirical_lsmean_difference_matches_sas(sas_name: str) -> None:
    fit = _fit("FEV1 ~ ARMCD", STRUCTURES[sas_name])
    sas = pd.read_csv(ROBUST / f"empirical_{sas_name}_lsmean.csv").iloc[0]
    ours = fit.treatment_contrasts(df="bw", vcov="sandwich").iloc[0]
    assert ours.estimate == pytest.approx(sas.Estimate, abs=2e-4)
    assert ours.se == pytest.approx(sas.StdErr, rel=1e-4)
    assert ours.df == sas.DF == 195
    assert ours.ci_low == pytest.approx(sas.Lower, abs=2e-4)
    assert ours.ci_high == pytest.approx(sas.Upper, abs=2e-4)
    assert ours.p == pytest.approx(sas.Probt, rel=1e-3)


@pytest.mark.parametrize("sas_name", list(STRUCTURES))
def test_empirical_type3_matches_sas(sas_name: str) -> None:
    """One numerator df: SAS's F is the square of the difference's t (full precision in
    the lsmean export); the listing's rounded F and its df must agree too."""
    _, num, den, _, f_listed, *_ = _type3_line(ROBUST / f"empirical_{sas_name}.txt", "ARMCD")
    t_value = pd.read_csv(ROBUST / f"empirical_{sas_name}_lsmean.csv").tValue[0]
    fit = _fit("FEV1 ~ ARMCD", STRUCTURES[sas_name])
    row = fit.type3("between-within", "sandwich").iloc[0]
    assert row.effect == "ARMCD" and row.num_df == int(num) and row.den_df == int(den)
    assert row["F"] == pytest.approx(t_value**2, rel=2e-4)
    assert row.chisq == row["F"]  # one numerator df
    assert row["F"] == pytest.approx(float(f_listed), abs=0.005 + 2e-4 * row["F"])


def test_empirical_refuses_kenward_roger_df() -> None:
    fit = _fit("FEV1 ~ ARMCD", "cs")
    for df in ("kr", "kr-linear"):
        with pytest.raises(InputError, match="Kenward-Roger"):
            fit.coefficients(df=df, vcov="sandwich")
    with pytest.raises(InputError, match="unknown"):
        fit.coefficients(vcov="robust")


@pytest.mark.parametrize(
    ("name", "formula"),
    [("test3_1", "FEV1 ~ ARMCD*FEV1_BL"), ("test3_2", "FEV1 ~ ARMCD*SEX + ARMCD:FEV1_BL")],
)
def test_type3_satterthwaite_matches_sas(name: str, formula: str) -> None:
    """SAS: CLASS ARMCD(ref='PBO') SEX; MODEL FEV1 = ... / ddfm=satterthwaite htype=3;
    REPEATED AVISIT / type=ar(1) (SAS names the interaction FEV1_BL*ARMCD)."""
    sas = pd.read_csv(SAS / "anova" / f"{name}.csv")
    ours = _fit(formula, "ar1").type3()
    assert len(ours) == len(sas)
    for (_, s), (_, o) in zip(sas.iterrows(), ours.iterrows(), strict=True):
        assert sorted(s.Effect.split("*")) == sorted(o.effect.split(":"))
        assert o.num_df == s.NumDF
        assert o.den_df == pytest.approx(s.DenDF, rel=1e-5)
        assert o["F"] == pytest.approx(s.FValue, rel=1e-5)
        assert o.chisq == pytest.approx(s.ChiSq, rel=1e-5)
        assert o.p == pytest.approx(s.ProbF, rel=1e-4)
        assert o.p_chisq == pytest.approx(s.ProbChiSq, rel=1e-4)


@pytest.mark.parametrize("sas_name", list(STRUCTURES))
def test_type3_kenward_roger_matches_sas(sas_name: str) -> None:
    """ddfm=kr, one numerator df: F is the square of the difference's KR t (kr_*.csv) and
    the denominator df its df; the listing's rounded values agree too."""
    ref = pd.read_csv(SAS / f"kr_{sas_name}.csv").iloc[0]
    _, num, den, _, f_listed, *_ = _type3_line(SAS / f"kr_{sas_name}.txt", "ARMCD")
    row = _fit("FEV1 ~ ARMCD", STRUCTURES[sas_name]).type3("kr").iloc[0]
    assert row.num_df == int(num)
    assert row["F"] == pytest.approx(ref.tValue**2, rel=5e-4)
    assert row.den_df == pytest.approx(ref.DF, abs=0.1)
    assert round(row.den_df) == int(den)
    assert row["F"] == pytest.approx(float(f_listed), abs=0.005 + 5e-4 * row["F"])


def test_type3_needs_an_intercept() -> None:
    fit = mmrm(_fev(), "FEV1 ~ 0 + ARMCD", "USUBJID", "AVISIT", "cs")
    with pytest.raises(InputError, match="intercept"):
        fit.type3()


def test_sas_listing_parser_reads_the_table() -> None:
    fields = _type3_line(ROBUST / "empirical_us.txt", "ARMCD")
    assert fields[:5] == ["ARMCD", "1", "195", "35.67", "35.67"]
    assert re.match(r"<\.0001", fields[5])


@pytest.mark.parametrize(
    ("listing", "method"), [("sas_log_reml.txt", "reml"), ("sas_log.txt", "ml")]
)
def test_type3_multi_df_satterthwaite_matches_sas(listing: str, method: str) -> None:
    """FEV1 = RACE SEX ARMCD AVISIT AVISIT*ARMCD, unstructured, ddfm=satterthwaite: the
    3-df and 2-df tests pool the df of the directions of SAS's basis (each level minus the
    reference level); the sum-to-zero basis would give 150 where SAS prints 148."""
    fit = mmrm(
        pd.read_csv(SAS.parent / "fev_data.csv"),
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "USUBJID",
        "AVISIT",
        "us",
        method,
    )
    ours = fit.type3().set_index("effect")
    names = {"AVISIT*ARMCD": "ARMCD:AVISIT"}
    for effect in ("ARMCD", "AVISIT", "AVISIT*ARMCD", "RACE", "SEX"):
        _, num, den, chisq, f_value, *_ = _type3_line(SAS / listing, effect)
        row = ours.loc[names.get(effect, effect)]
        assert row.num_df == int(num)
        assert round(row.den_df) == int(den), effect
        assert row["F"] == pytest.approx(float(f_value), abs=0.005 + 2e-4 * row["F"])
        assert row.chisq == pytest.approx(float(chisq), abs=0.005 + 2e-4 * row.chisq)
