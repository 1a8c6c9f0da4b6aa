"""Level order and reference of the MMRM (issue 12), and formulas with transforms.

References: tests/reference/mmrm_level_order.R (nlme::gls with the visits in time order and
placebo first, on fev_data relabelled so that string sorting gets both wrong) and
tests/reference/mmrm_transforms.R (gls on log(FEV1), I(), poly(), a declared reference).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from frailtrial.cli.main import app
from frailtrial.errors import InputError
from frailtrial.stats.levels import declare_levels, natural_order, parse_levels
from frailtrial.stats.lmm import fit_random_intercept
from frailtrial.stats.mmrm import MmrmFit, estimate_many, fit_many, mmrm

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

REF = Path(__file__).parent / "reference"
ORDER: dict[str, Any] = json.loads((REF / "mmrm_level_order.json").read_text())
TRANSFORMS: list[dict[str, Any]] = json.loads((REF / "mmrm_transforms.json").read_text())
FORMULA = "FEV1 ~ RACE + SEX + ARM*AVISIT"
STRUCTURES = [f["covariance"] for f in ORDER["fits"]]


def _fixture(covariance: str) -> dict[str, Any]:
    return next(f for f in ORDER["fits"] if f["covariance"] == covariance)


@cache
def _relabelled() -> pd.DataFrame:
    """fev_data with visits "Week 2" ... "Week 12" and arms placebo / high_dose, as text
    (string sorting puts "Week 12" and "high_dose" first)."""
    data = pd.read_csv(REF / ORDER["data"])
    data["AVISIT"] = data["AVISIT"].map(ORDER["visit_labels"])
    data["ARM"] = data[ORDER["arm_from"]].map(ORDER["arm_labels"])
    return data


def _declared() -> pd.DataFrame:
    """The arm declared placebo first (a Categorical); visits left as text."""
    data = _relabelled().copy()
    data["ARM"] = pd.Categorical(data["ARM"], categories=ORDER["arms"])
    return data


@cache
def _fit(covariance: str) -> MmrmFit:
    return mmrm(_declared(), FORMULA, "USUBJID", "AVISIT", covariance=covariance)


def _matches_r(fit: MmrmFit, fx: dict[str, Any]) -> None:
    """-2 log L, coefficients and SEs, visit covariance and the treatment differences of
    the R fit (nlme stops a little short of the optimum: ours may sit above)."""
    assert fit.neg2loglik == pytest.approx(fx["neg2loglik"], abs=1e-5)
    assert fit.terms == fx["terms"]
    est = np.array(fx["estimate"])
    np.testing.assert_allclose(fit.beta, est, rtol=1e-4, atol=1e-4 * np.abs(est).max())
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), fx["se"], rtol=1e-4)
    sigma = np.array(fx["sigma"])
    np.testing.assert_allclose(fit.sigma, sigma, rtol=1e-4, atol=1e-4 * np.abs(sigma).max())
    con = fit.treatment_contrasts().set_index(fit.frame.visit)
    for row in fx["contrasts"]:
        got = con.loc[row["visit"]]
        assert got["contrast"] == row["contrast"]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-4, abs=1e-6)
        assert got["se"] == pytest.approx(row["se"], rel=1e-4)


# ---- natural order -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["week12", "week2", "week4"], ["week2", "week4", "week12"]),
        (["VIS10", "VIS2", "VIS1"], ["VIS1", "VIS2", "VIS10"]),
        (["Week 12", "Week 8", "Week 2", "Week 4"], ["Week 2", "Week 4", "Week 8", "Week 12"]),
        (["month12", "month3", "month6"], ["month3", "month6", "month12"]),
        (["10", "9", "1.5", "-2"], ["-2", "1.5", "9", "10"]),
        ([12, 3, 6], [3, 6, 12]),
        (["placebo", "high_dose", "low_dose"], ["high_dose", "low_dose", "placebo"]),
        (["V1b", "V1a", "V01"], ["V01", "V1a", "V1b"]),
    ],
)
def test_natural_order(values: list[Any], expected: list[Any]) -> None:
    assert natural_order(values) == expected


def test_visits_that_sort_wrongly_as_strings_are_fitted_in_time_order() -> None:
    fit = _fit("ar1")
    assert fit.visits == ORDER["visits"]
    assert fit.covariance_matrix().index.tolist() == ORDER["visits"]
    # issue 12: the string-sorted fit gave -2 log L 3514.74 instead of 3525.08
    assert fit.neg2loglik == pytest.approx(3525.0788, abs=1e-4)


@pytest.mark.parametrize("covariance", STRUCTURES)
def test_order_dependent_structures_match_nlme_in_time_order(covariance: str) -> None:
    _matches_r(_fit(covariance), _fixture(covariance))


def test_arm_reference_by_natural_order_without_a_declaration() -> None:
    """Undeclared arms are in natural order, so "high_dose" (first) is the reference: the
    declared order is what makes placebo the comparator."""
    fit = mmrm(_relabelled(), FORMULA, "USUBJID", "AVISIT", covariance="ar1")
    assert fit.levels()["arm"] == ["high_dose", "placebo"]
    assert set(fit.treatment_contrasts()["contrast"]) == {"placebo - high_dose"}
    assert fit.neg2loglik == pytest.approx(_fixture("ar1")["neg2loglik"], abs=1e-5)


# ---- declared order (pandas Categorical) ---------------------------------------------------


LETTERS = ["D", "C", "B", "A"]


def _lettered() -> pd.DataFrame:
    """Visit labels whose natural order is wrong (D, C, B, A in time order), declared in
    time order as a Categorical with an unused category."""
    data = _declared()
    letters = dict(zip(ORDER["visits"], LETTERS, strict=True))
    data["AVISIT"] = pd.Categorical(data["AVISIT"].map(letters), categories=[*LETTERS, "unused"])
    return data


def test_categorical_visit_order_is_honoured() -> None:
    """The declared order gives R's time-ordered AR(1) fit; the unused category is left out."""
    fit = mmrm(_lettered(), FORMULA, "USUBJID", "AVISIT", covariance="ar1")
    assert fit.visits == LETTERS
    assert fit.levels()["visit"] == LETTERS
    fx = _fixture("ar1")
    assert fit.neg2loglik == pytest.approx(fx["neg2loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.beta, fx["estimate"], rtol=1e-4, atol=1e-4)


def test_batched_fits_and_contrasts_honour_a_categorical_visit() -> None:
    """fit_many (kernels, separable design) and estimate_many on the declared visit order
    give R's AR(1) differences high_dose - placebo at each visit."""
    fx = _fixture("ar1")
    fits = fit_many([_lettered()] * 3, FORMULA, "USUBJID", "AVISIT", covariance="ar1")
    labels, lmat = fits[0].treatment_contrast_matrix()
    assert labels["AVISIT"].tolist() == [*LETTERS, "overall"]
    table = estimate_many(fits, lmat)
    for k in range(3):
        rows = table[table["fit"] == k].sort_values("row")
        assert fits[k].neg2loglik == pytest.approx(fx["neg2loglik"], abs=1e-5)
        per_visit = rows[["estimate", "se"]].to_numpy()[:-1]  # the last row is "overall"
        for row, (est, se) in zip(fx["contrasts"], per_visit, strict=True):
            assert est == pytest.approx(row["estimate"], rel=1e-4)
            assert se == pytest.approx(row["se"], rel=1e-4)


def test_same_values_in_another_declared_order_are_refitted_in_that_order() -> None:
    """The design is cached on the levels: declaring the other order must not reuse it."""
    data = _declared()
    first = mmrm(data, FORMULA, "USUBJID", "AVISIT", covariance="ar1")
    data["ARM"] = data["ARM"].cat.reorder_categories(["high_dose", "placebo"])
    second = mmrm(data, FORMULA, "USUBJID", "AVISIT", covariance="ar1")
    assert "ARMhigh_dose" in first.terms and "ARMplacebo" in second.terms
    a = first.treatment_contrasts()
    b = second.treatment_contrasts()
    assert set(a["contrast"]) == {"high_dose - placebo"}
    assert set(b["contrast"]) == {"placebo - high_dose"}
    np.testing.assert_allclose(a["estimate"], -b["estimate"], rtol=1e-6)


def test_lsmeans_follow_the_declared_order() -> None:
    fit = _fit("ar1")
    lsm = fit.lsmeans()
    assert list(dict.fromkeys(lsm["ARM"])) == ORDER["arms"]
    assert list(dict.fromkeys(lsm["AVISIT"])) == ORDER["visits"]
    for row in _fixture("ar1")["contrasts"]:
        at = lsm[lsm["AVISIT"] == row["visit"]].set_index("ARM")["estimate"]
        assert at["high_dose"] - at["placebo"] == pytest.approx(row["estimate"], rel=1e-4)


def test_fit_many_honours_the_order_in_lists_and_long_frames() -> None:
    fx = _fixture("ar1")
    data = _declared()
    for fits in (
        fit_many([data, data], FORMULA, "USUBJID", "AVISIT", covariance="ar1"),
        fit_many(
            pd.concat([data.assign(SET=k) for k in range(2)], ignore_index=True),
            FORMULA,
            "USUBJID",
            "AVISIT",
            covariance="ar1",
            dataset="SET",
        ),
    ):
        for fit in fits:
            assert fit.converged and fit.visits == ORDER["visits"]
            _matches_r(fit, fx)


def test_json_states_the_levels_used() -> None:
    doc = _fit("ar1").to_dict()
    assert doc["levels"] == {
        "visit": ORDER["visits"],
        "arm": ORDER["arms"],
        "RACE": ["Asian", "Black or African American", "White"],
        "SEX": ["Female", "Male"],
    }


def test_random_intercept_model_uses_the_same_order() -> None:
    """lmm and MMRM agree: natural visit order, declared arm order."""
    fit = fit_random_intercept(_declared(), "FEV1 ~ ARM * AVISIT", "USUBJID")
    assert fit.terms[:5] == [
        "(Intercept)",
        "ARMhigh_dose",
        "AVISITWeek 4",
        "AVISITWeek 8",
        "AVISITWeek 12",
    ]
    con = fit.treatment_contrasts("ARM")
    assert con["AVISIT"].tolist() == [*ORDER["visits"], "overall"]
    assert set(con["contrast"]) == {"high_dose - placebo"}


# ---- --levels ------------------------------------------------------------------------------


def test_parse_and_declare_levels() -> None:
    declared = parse_levels(["ARM=placebo,high_dose", "AVISIT = Week 2, Week 4,Week 8,Week 12"])
    assert declared == {"ARM": ORDER["arms"], "AVISIT": ORDER["visits"]}
    data = declare_levels(_relabelled(), declared)
    assert list(data["ARM"].cat.categories) == ORDER["arms"]
    assert list(data["AVISIT"].cat.categories) == ORDER["visits"]
    assert data["AVISIT"].isna().sum() == 0


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["ARM"], "expected COLUMN=LEVEL1,LEVEL2"),
        (["=a,b"], "expected COLUMN=LEVEL1,LEVEL2"),
        (["ARM="], "expected COLUMN=LEVEL1,LEVEL2"),
        (["ARM=placebo,,high_dose"], "empty level"),
        (["ARM=placebo,placebo,high_dose"], "given twice"),
        (["ARM=placebo,high_dose", "ARM=high_dose,placebo"], "given twice"),
    ],
)
def test_parse_levels_errors(items: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_levels(items)


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "relabelled.csv"
    _relabelled().to_csv(path, index=False)
    return path


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["stats", "mmrm", *args], env=env)


def _base(path: Path, covariance: str = "ar1") -> list[str]:
    return [
        "--data",
        str(path),
        "--formula",
        FORMULA,
        "--subject",
        "USUBJID",
        "--visit",
        "AVISIT",
        "--covariance",
        covariance,
    ]


@pytest.mark.parametrize("covariance", ["ar1", "toep"])
def test_cli_levels_matches_nlme(tmp_path: Path, covariance: str) -> None:
    out = _run(*_base(_csv(tmp_path), covariance), "--levels", "ARM=placebo,high_dose", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    fx = _fixture(covariance)
    assert doc["levels"]["visit"] == ORDER["visits"] and doc["levels"]["arm"] == ORDER["arms"]
    assert doc["covariance"]["visits"] == ORDER["visits"]
    assert doc["neg2loglik"] == pytest.approx(fx["neg2loglik"], abs=1e-5)
    assert [c["term"] for c in doc["coefficients"]] == fx["terms"]
    at = {c["AVISIT"]: c for c in doc["contrasts"]}
    for row in fx["contrasts"]:
        assert at[row["visit"]]["contrast"] == "high_dose - placebo"
        assert at[row["visit"]]["estimate"] == pytest.approx(row["estimate"], rel=1e-4)
        assert at[row["visit"]]["se"] == pytest.approx(row["se"], rel=1e-4)


def test_cli_declared_visit_order_is_used_as_given(tmp_path: Path) -> None:
    """An explicit visit order is honoured even where it is not time order (here it fits
    another AR(1) model than R's time-ordered one)."""
    order = "Week 4,Week 2,Week 8,Week 12"
    out = _run(*_base(_csv(tmp_path)), "--levels", f"AVISIT={order}", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["levels"]["visit"] == order.split(",")
    assert doc["covariance"]["visits"] == order.split(",")
    assert doc["levels"]["arm"] == ["high_dose", "placebo"]
    assert abs(doc["neg2loglik"] - _fixture("ar1")["neg2loglik"]) > 0.5


def test_cli_levels_of_a_numeric_column_compare_the_text(tmp_path: Path) -> None:
    out = _run(
        "--data",
        str(REF / "fev_data.csv"),
        "--formula",
        "FEV1 ~ ARMCD * VISITN",
        "--subject",
        "USUBJID",
        "--visit",
        "VISITN",
        "--covariance",
        "ar1",
        "--levels",
        "VISITN=1,2,3,4",
        "--levels",
        "ARMCD=TRT,PBO",
        "--json",
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["levels"] == {"visit": ["1", "2", "3", "4"], "arm": ["TRT", "PBO"]}
    assert {c["contrast"] for c in doc["contrasts"]} == {"PBO - TRT"}


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ("ARM", "expected COLUMN=LEVEL1,LEVEL2"),
        ("NOPE=a,b", "no column NOPE"),
        ("ARM=placebo,high_dose,low_dose", "low_dose do not occur in column ARM"),
        ("ARM=placebo", "column ARM has value(s) high_dose not in the list"),
        ("AVISIT=Week 2,Week 4,Week 8", "Week 12 not in the list"),
        ("ARM=placebo,placebo,high_dose", "given twice"),
        ("WEIGHT=1,2", "do not occur"),
        ("RACE=Asian,White,Black or African American,Other", "Other do not occur"),
        ("USUBJID=" + ",".join(f"PT{i}" for i in range(1, 201)), "not a factor of the model"),
    ],
)
def test_cli_levels_errors_are_one_line(tmp_path: Path, levels: str, message: str) -> None:
    out = _run(*_base(_csv(tmp_path)), "--levels", levels)
    assert out.exit_code == 2
    assert out.output.startswith("error: --levels") and out.output.count("\n") == 1
    assert message in out.output


def test_cli_levels_missing_a_value_suggests_the_full_option(tmp_path: Path) -> None:
    """The suggestion is the option to give (quoted for the shell), not the list just given."""
    out = _run(*_base(_csv(tmp_path)), "--levels", "AVISIT=Week 2,Week 4,Week 8")
    assert out.exit_code == 2
    assert "give every level, e.g. --levels 'AVISIT=Week 2,Week 4,Week 8,Week 12'" in out.output


# ---- formulas with transforms --------------------------------------------------------------

FEV = pd.read_csv(REF / "fev_data.csv")
OURS = {
    "transforms": "log(FEV1) ~ I(WEIGHT * 2) + C(SEX, Treatment('Male')) + poly(FEV1_BL, 2)"
    " + ARMCD*AVISIT",
    "reference": "FEV1 ~ C(ARMCD, Treatment('TRT'))*AVISIT",
}
R_NAMES = {"C(SEX, Treatment('Male'))": "SEX", "C(ARMCD, Treatment('TRT'))": "ARMCD"}


def _r_term(term: str) -> str:
    for ours, r in R_NAMES.items():
        term = term.replace(ours, r)
    return term


@pytest.mark.parametrize("fx", TRANSFORMS, ids=[f["name"] for f in TRANSFORMS])
def test_transformed_formulas_match_nlme(fx: dict[str, Any]) -> None:
    fit = mmrm(FEV, OURS[fx["name"]], "USUBJID", "AVISIT", covariance="ar1")
    assert fit.n_obs == fx["n_obs"]
    assert fit.loglik == pytest.approx(fx["loglik"], abs=1e-6)
    assert [_r_term(t) for t in fit.terms] == fx["terms"]
    np.testing.assert_allclose(fit.beta, fx["estimate"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), fx["se"], rtol=1e-5)
    lsm = fit.lsmeans().set_index(["ARMCD", "AVISIT"])
    for row in fx["lsmeans"]:
        got = lsm.loc[(row["arm"], row["visit"])]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-6)
        assert got["se"] == pytest.approx(row["se"], rel=1e-5)
    con = fit.treatment_contrasts().set_index("AVISIT")
    for row in fx["contrasts"]:
        got = con.loc[row["visit"]]
        assert got["contrast"] == row["contrast"]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-5, abs=1e-8)
        assert got["se"] == pytest.approx(row["se"], rel=1e-5)


def test_declared_reference_changes_the_contrast_not_the_model() -> None:
    plain = mmrm(FEV, "FEV1 ~ ARMCD*AVISIT", "USUBJID", "AVISIT", covariance="ar1")
    ref = mmrm(FEV, OURS["reference"], "USUBJID", "AVISIT", covariance="ar1")
    assert ref.levels()["arm"] == ["TRT", "PBO"] and plain.levels()["arm"] == ["PBO", "TRT"]
    assert ref.loglik == pytest.approx(plain.loglik, abs=1e-8)
    np.testing.assert_allclose(
        ref.treatment_contrasts()["estimate"], -plain.treatment_contrasts()["estimate"], rtol=1e-6
    )


def test_scaled_covariate_halves_its_coefficient() -> None:
    """I(WEIGHT * 2) is WEIGHT in other units: same ML fit, coefficient halved (algebra;
    the REML likelihood changes with the scale of X)."""
    args = {"subject": "USUBJID", "visit": "AVISIT", "covariance": "ar1", "method": "ml"}
    plain = mmrm(FEV, "FEV1 ~ WEIGHT + ARMCD*AVISIT", **args)
    scaled = mmrm(FEV, "FEV1 ~ I(WEIGHT*2) + ARMCD*AVISIT", **args)
    assert scaled.loglik == pytest.approx(plain.loglik, abs=1e-6)
    assert scaled.beta[1] == pytest.approx(plain.beta[1] / 2, rel=1e-6)
    np.testing.assert_allclose(scaled.beta[2:], plain.beta[2:], rtol=1e-6, atol=1e-8)


def test_transforms_in_fit_many_match_single_fits() -> None:
    fits = fit_many([FEV, FEV], OURS["transforms"], "USUBJID", "AVISIT", covariance="ar1")
    one = mmrm(FEV, OURS["transforms"], "USUBJID", "AVISIT", covariance="ar1")
    for fit in fits:
        assert fit.converged and fit.loglik == pytest.approx(one.loglik, abs=1e-8)
        np.testing.assert_allclose(fit.beta, one.beta, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    "formula",
    [
        "log(FEV1) ~ ARMCD*AVISIT",
        "FEV1 ~ I(WEIGHT*2) + ARMCD*AVISIT",
        "FEV1 ~ C(SEX, Treatment('Male')) + ARMCD*AVISIT",
        "FEV1 ~ poly(FEV1_BL, 2) + ARMCD*AVISIT",
        "FEV1 ~ FEV1_BL:AVISIT + ARMCD*AVISIT",
        "FEV1 ~ ARMCD:SEX + ARMCD*AVISIT",
    ],
)
def test_cli_accepts_formulaic_transforms(formula: str) -> None:
    out = _run(
        "--data",
        str(REF / "fev_data.csv"),
        "--formula",
        formula,
        "--subject",
        "USUBJID",
        "--visit",
        "AVISIT",
        "--covariance",
        "ar1",
        "--json",
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["converged"] and doc["levels"]["arm"] == ["PBO", "TRT"]
    assert len(doc["contrasts"]) == 5


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("FEV1 ~ nosuch(WEIGHT) + AVISIT", "unknown column(s) nosuch"),
        ("FEV1 ~ NOPE + AVISIT", "unknown column(s) NOPE"),
        ("FEV1 ~ C(SEX, Treatment('Other')) + AVISIT", "not among the provided levels"),
        ("log(FEV1 - 40) ~ ARMCD*AVISIT", "`log(FEV1 - 40)` contains null values"),
        ("FEV1 ~ log(WEIGHT - 0.5) + AVISIT", "`log(WEIGHT - 0.5)` contains null values"),
        ("log(VISITN - 1) ~ AVISIT", "outcome log(VISITN - 1) is not finite at data row 1"),
        ("FEV1 ~ log(VISITN - 1) + AVISIT", "column log(VISITN - 1) of"),
        ("FEV1 + WEIGHT ~ AVISIT", "one outcome"),
        ("SEX ~ AVISIT", "must be one numeric column"),
    ],
)
def test_cli_unsupported_formula_is_one_line(formula: str, message: str) -> None:
    out = _run(
        "--data",
        str(REF / "fev_data.csv"),
        "--formula",
        formula,
        "--subject",
        "USUBJID",
        "--visit",
        "AVISIT",
    )
    assert out.exit_code == 2, out.output
    assert out.output.startswith("error: ") and out.output.count("\n") == 1
    assert message in out.output


# ---- text output ---------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["80", "40"])
def test_cli_tables_are_never_cut(columns: str) -> None:
    """Piped or in a narrow terminal, every cell is printed in full (issue 12: cut at 80)."""
    args = [
        "--data",
        str(REF / "fev_data.csv"),
        "--formula",
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "--subject",
        "USUBJID",
        "--visit",
        "AVISIT",
        "--covariance",
        "ar1",
    ]
    text = _run(*args, env={"COLUMNS": columns})
    doc = json.loads(_run(*args, "--json").stdout)
    assert text.exit_code == 0
    assert "…" not in text.output
    lines = {line.split("│")[1].strip(): line for line in text.output.splitlines() if "│" in line}
    for coef in doc["coefficients"]:
        assert coef["term"] in lines
        cells = [c.strip() for c in lines[coef["term"]].split("│")[2:-1]]
        assert float(cells[0]) == pytest.approx(coef["estimate"], abs=5e-5)
        assert float(cells[-1]) == pytest.approx(coef["ci_high"], abs=5e-5)
    assert "Levels (first = reference): visit: VIS1, VIS2, VIS3, VIS4; arm: PBO, TRT" in text.output
