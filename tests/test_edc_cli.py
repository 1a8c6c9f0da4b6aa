"""The ``frailtrial edc`` and ``frailtrial audit`` commands, run in this process."""

from __future__ import annotations

import json
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from cli_inprocess import invoke
from edc_support import sqlite_url


def test_init_import_lock_export_and_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = sqlite_url(tmp_path)
    code, out, _ = invoke(
        monkeypatch, capsys, "edc", "init", "--protocol", "cratus-2017", "--db", db, "--json"
    )
    assert code == 0 and json.loads(out)["trial"] == "cratus-2017"
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "init", "--protocol", "cratus-2017", "--db", db
    )
    assert code == 2 and "already exists" in err

    lst = tmp_path / "list.csv"
    code, out, _ = invoke(
        monkeypatch,
        capsys,
        "randomization",
        "generate",
        "--protocol",
        "cratus-2017",
        "--n",
        "30",
        "--out",
        str(lst),
        "--json",
    )
    sha = json.loads(out)["sha256"]
    wrong = ("0" if sha[0] != "0" else "1") + sha[1:]
    import_list = partial(
        invoke, monkeypatch, capsys, "edc", "import-list", "--list", str(lst), "--db", db
    )
    code, _, err = import_list("--commitment", wrong)
    assert code == 2 and "does not match the commitment" in err
    code, _, err = import_list("--commitment", sha, "--as", "monitor")
    assert code == 3 and "permission denied" in err
    code, out, _ = import_list("--commitment", sha)
    assert code == 0 and "30 list entries" in out

    code, out, _ = invoke(
        monkeypatch, capsys, "edc", "export", "--out", str(tmp_path / "b"), "--db", db, "--json"
    )
    assert code == 0 and json.loads(out)["blinded"] is True  # statistician before lock
    assert "arm" not in (tmp_path / "b" / "participants.csv").read_text().split("\n")[0]
    code, out, _ = invoke(
        monkeypatch,
        capsys,
        "edc",
        "lock",
        "--reason",
        "final",
        "--unblind-statistician",
        "--db",
        db,
    )
    assert code == 0 and "unblinded" in out
    code, out, _ = invoke(
        monkeypatch, capsys, "edc", "export", "--out", str(tmp_path / "u"), "--db", db, "--json"
    )
    summary = json.loads(out)
    assert code == 0 and summary["blinded"] is False
    for domain in ("dm", "ex", "ae", "qs", "lb", "vs", "ds"):
        assert (tmp_path / "u" / "sdtm" / f"{domain}.csv").is_file()
    assert (tmp_path / "u" / "spss" / "participants.sav").is_file()
    assert (tmp_path / "u" / "sas" / "particip.xpt").is_file()

    code, out, _ = invoke(monkeypatch, capsys, "audit", "verify", "--db", db, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["rows"] > 10
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "export", "--out", str(tmp_path / "x"), "--db", "mysql://x/y"
    )
    assert code == 2 and "unsupported database" in err


def test_audit_verify_names_a_missing_or_foreign_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", f"sqlite:///{missing}")
    assert code == 2 and "no such store file" in err and str(missing) in err
    assert not missing.exists()  # verifying does not create a store
    foreign = tmp_path / "other.sqlite3"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x INTEGER)").connection.close()
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", str(foreign))
    assert code == 2 and "not a frailtrial data store" in err and "frailtrial edc init" in err
