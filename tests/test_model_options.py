"""One registry of the MMRM's options (stats/model_options.py): the protocol model accepts
exactly the covariance structures, methods and df methods the engine fits, in one spelling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.protocol import parse
from frailtrial.stats.covariance import make_structure
from frailtrial.stats.mmrm import mmrm
from frailtrial.stats.model_options import (
    COVARIANCE_STRUCTURES,
    DF_METHODS,
    METHODS,
    df_method,
)
from protocol_support import assert_problem, raw

TRIAL = pd.read_csv(Path(__file__).parent / "reference" / "mmrm_sim_trial_1.csv")
ARGS = {"formula": "Y ~ BASE + ARM*VISIT", "subject": "USUBJID", "visit": "VISIT"}


def _plan_model(**options: str) -> dict:
    data = raw("huc-msc-2024")
    data["analysis"]["models"][0].update(options)
    return data


def test_the_registry_holds_every_structure_and_df_method_of_the_engine() -> None:
    # the protocol's list once lacked toeph and adh; the engine's df had another spelling
    assert COVARIANCE_STRUCTURES == ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "adh")
    assert METHODS == ("reml", "ml")
    assert DF_METHODS == (
        "satterthwaite",
        "kenward_roger",
        "kenward_roger_linear",
        "residual",
        "between_within",
    )


@pytest.mark.parametrize("name", COVARIANCE_STRUCTURES)
def test_every_structure_is_accepted_by_the_protocol_and_fitted_by_the_engine(name: str) -> None:
    model = parse(_plan_model(covariance=name), "mine.yaml").analysis.models[0]
    assert model.covariance == name
    assert make_structure(name, 4).name == name
    fit = mmrm(TRIAL, covariance=model.covariance, method=model.method, **ARGS)
    assert fit.structure.name == name and np.isfinite(fit.loglik)


def test_every_df_method_is_accepted_by_the_protocol_and_computed_by_the_engine() -> None:
    fit = mmrm(TRIAL, **ARGS)
    contrasts = fit.treatment_contrast_matrix()[1]
    for name in DF_METHODS:
        model = parse(_plan_model(df=name), "mine.yaml").analysis.models[0]
        assert model.df == name
        got = fit.estimate(contrasts, df=model.df)
        assert np.isfinite(got["df"]).all() and (got["df"] > 0).all(), name
        assert fit.to_dict(df=name)["df_method"] == name


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_accepted_by_the_protocol(method: str) -> None:
    assert parse(_plan_model(method=method), "mine.yaml").analysis.models[0].method == method


@pytest.mark.parametrize(
    ("option", "value"),
    [("covariance", "spexp"), ("covariance", "unstructured"), ("method", "reml2")],
)
def test_the_protocol_refuses_what_the_engine_does_not_fit(option: str, value: str) -> None:
    assert_problem(
        lambda d: d["analysis"]["models"][0].update({option: value}),
        f"analysis.models[0].{option}",
        f"{value!r} is not allowed",
    )
    with pytest.raises(InputError, match=f"unknown {option} {value!r}; allowed: "):
        mmrm(TRIAL, **ARGS, **{option: value})


def test_a_protocol_writes_the_one_spelling_of_a_df_method() -> None:
    assert_problem(
        lambda d: d["analysis"]["models"][0].update(df="kr"),
        "analysis.models[0].df",
        "'kr' is not allowed; expected 'satterthwaite', 'kenward_roger'",
    )


def test_df_spellings_at_the_edges_map_to_the_one_name() -> None:
    assert df_method("kr") == df_method("KR") == df_method("Kenward-Roger") == "kenward_roger"
    assert df_method("kr-linear") == "kenward_roger_linear"
    assert df_method("between-within") == df_method("bw") == "between_within"
    with pytest.raises(InputError, match="allowed: satterthwaite, kenward_roger"):
        df_method("containment")
