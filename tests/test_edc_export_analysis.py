"""The analysis of an EDC export (issue 15): ``frailtrial edc export`` of a simulated trial
entered through the services, then ``frailtrial analyze`` on the tidy dataset. The report
names the protocol by the store's hash, and no endpoint is 100 % missing for lack of a form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli_inprocess import completed
from edc_support import sqlite_url
from frailtrial.protocol import load

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from frailtrial.edc.pipeline import load_simulated_trial
    from frailtrial.simulate import simulate_trial

    tmp = tmp_path_factory.mktemp("export-analysis")
    protocol = load("huc-msc-2024")
    url = sqlite_url(tmp)
    load_simulated_trial(simulate_trial(protocol, 11, n_per_arm=8), protocol, url, list_seed=11)
    from frailtrial.edc.models import Trial

    data, out = tmp / "export", tmp / "analysis"
    got = completed("edc", "export", "--db", url, "--out", str(data), "--format", "csv")
    assert got.returncode == 0, got.stderr
    got = completed("analyze", "--data", str(data), "--protocol", protocol.name, "--out", str(out))
    assert got.returncode == 0, got.stderr
    return {
        "protocol": protocol,
        "store_sha": Trial.objects.get().protocol_sha256,
        "results": json.loads((out / "results.json").read_text(encoding="utf-8")),
        "report": (out / "report.html").read_text(encoding="utf-8"),
    }


def test_the_report_of_an_edc_export_shows_the_stores_protocol_hash(
    analysed: dict[str, Any],
) -> None:
    sha = analysed["store_sha"]
    assert analysed["results"]["provenance"]["protocol"]["sha256"] == sha
    assert f"sha256 <code>{sha}</code>" in analysed["report"]


def test_no_endpoint_of_an_edc_export_is_all_missing(analysed: dict[str, Any]) -> None:
    rows = analysed["results"]["missing_data"]
    for var in analysed["protocol"].variables:
        mine = [r for r in rows if r["variable"] == var.name]
        expected = sum(r["attended"] for r in mine)
        observed = sum(r["observed"] for r in mine)
        assert expected > 0 and observed > 0, (var.name, mine)
        assert sum(r["missing"] for r in mine) < expected, var.name


def test_one_definition_of_the_protocol_hash(analysed: dict[str, Any]) -> None:
    from frailtrial.analysis.provenance import provenance
    from frailtrial.edc.services import trials
    from frailtrial.protocol.canonical import protocol_hash, text_hash

    protocol = load("cratus-2017")
    sha = provenance(protocol, None)["protocol"]["sha256"]  # type: ignore[index]
    assert sha == protocol_hash(protocol)
    trial = trials.create_trial(protocol, "cratus-hash")
    assert trial.protocol_sha256 == sha == text_hash(trial.protocol_yaml)
