"""The plan's models through frailtrial.analysis.models against R (nlme, lme4 and emmeans):
tests/reference/analysis_models.R wrote analysis_models_expected.csv from the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frailtrial.analysis.models import fit_models
from frailtrial.protocol import load

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    m = pd.read_csv(REF / "analysis_models_pcs.csv").assign(variable="pcs")
    return fit_models(m, load("huc-msc-2024")).effects


def test_primary_mmrm_effects_per_visit_match_nlme_gls(effects: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "analysis_models_expected.csv")
    ref = ref[ref["model"] == "mmrm_change"].set_index("visit")
    ours = effects[effects["model"] == "mmrm_change"].set_index("visit")
    assert list(ours.index) == [*ref.index, "overall"]
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["estimate"], ref["estimate"], rtol=1e-5, atol=1e-5)
    assert (ours["ci_low"] < ours["estimate"]).all() and (ours["estimate"] < ours["ci_high"]).all()


def test_random_intercept_ml_contrasts_match_lme4(effects: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "analysis_models_expected.csv")
    ref = ref[ref["model"] == "mixed_ml"].set_index("visit")
    ours = effects[effects["model"] == "mixed_ml"].set_index("visit").loc[ref.index]
    np.testing.assert_allclose(ours["estimate"], ref["estimate"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours["se"], ref["se"], rtol=1e-4)


def test_model_covariates_come_from_participants() -> None:
    """A plan's covariate (a baseline characteristic) reaches the models: the placebo arm is
    six years older on average and change from baseline grows by 1 per year of age, with no
    treatment effect; adjusted for age the MMRM's effect is about 0, unadjusted about -6."""
    plan = load("huc-msc-2024")
    rng = np.random.default_rng(11)
    ages = {f"P{i:02d}": (60 + i if i < 15 else 51 + i) for i in range(30)}  # 60-74, 66-80
    arms = {pid: "mscs" if i < 15 else "placebo" for i, pid in enumerate(ages)}
    rows = []
    for pid, age in ages.items():
        base = 50 + rng.normal(0, 5)
        for j, visit in enumerate(v.name for v in plan.assessment_visits):
            shift = (age - 70) if j else 0.0
            rows.append((pid, visit, "pcs", base + shift + rng.normal(0, 0.5), arms[pid]))
    m = pd.DataFrame(rows, columns=["participant_id", "visit", "variable", "value", "arm"])
    participants = pd.DataFrame({"participant_id": list(ages), "age": list(ages.values())})

    def effect_at_month6(covariates: list[str]) -> float:
        specs = [s.model_copy(update={"covariates": covariates}) for s in plan.analysis.models]
        protocol = plan.model_copy(
            update={"analysis": plan.analysis.model_copy(update={"models": specs})}
        )
        models = fit_models(m, protocol, participants)
        fits = models.fits.set_index("model")
        assert fits["n_obs"].notna().all(), fits["note"].tolist()
        assert all(("age + " in f) == bool(covariates) for f in fits["formula"])
        e = models.effects
        row = e[(e["model"] == "mmrm_change") & (e["visit"] == "month6")]
        return float(row["estimate"].iloc[0])

    assert abs(effect_at_month6(["age"])) < 0.5
    assert effect_at_month6([]) == pytest.approx(-6.0, abs=1.0)
