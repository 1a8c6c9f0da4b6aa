"""The exports package: ``edc export --format`` writes only the asked formats; no import cycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_inprocess import invoke
from edc_support import dose_first, enroll, new_trial, sqlite_url, use_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

PACKAGE = "frailtrial.edc.services.exports"
NAMES = ("formats", "tidy", "statfiles", "spss", "sas", "sdtm", "run")
MODULES = [PACKAGE, *(f"{PACKAGE}.{m}" for m in NAMES)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    url = sqlite_url(tmp_path_factory.mktemp("formats"))
    use_store(url)
    t = new_trial()
    from frailtrial.edc.services import crf, visits

    for i in range(4):
        r = enroll(t, f"F{i}")
        dose_first(t, r.participant_id, weight=60.0 + i)
        visits.attend(t["m"]["coordinator"], r.participant_id, "baseline", "2024-03-05")
        crf.enter_crf(t["m"]["coordinator"], r.participant_id, "baseline", "tug", {"tug_s": 11.0})
    name = t["trial"].name
    return {"url": url, "trial": name, "as": f"statistician-{name}"}


def _export(
    store: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    db = ("--db", store["url"], "--trial", store["trial"], "--as", store["as"])
    return invoke(monkeypatch, capsys, "edc", "export", *db, *args)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_only_the_asked_formats_are_written(
    store: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    every, some = tmp_path / "all", tmp_path / "some"
    code, out, err = _export(store, monkeypatch, capsys, "--out", str(every), "--json")
    assert code == 0, err
    assert json.loads(out)["formats"] == ["csv", "spss", "sas", "sdtm"]  # the default: all
    written = _files(every)
    assert {"spss/participants.sav", "sas/particip.xpt", "sdtm/dm.csv"} <= written

    code, out, err = _export(
        store, monkeypatch, capsys, "--out", str(some), "--format", "sas,csv", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["formats"] == ["csv", "sas"]
    tidy = {f for f in written if "/" not in f}  # the tidy csv files and audit-anchor.json
    assert "participants.csv" in tidy and "audit-anchor.json" in tidy
    assert _files(some) == tidy | {f for f in written if f.startswith("sas/")}
    assert {str(Path(f).relative_to(some)) for f in summary["files"]} == _files(some) - {
        "audit-anchor.json"
    }
    for name in tidy - {"audit-anchor.json"}:  # csv alone writes the same bytes as with all
        assert (some / name).read_bytes() == (every / name).read_bytes(), name
    anchor = json.loads((some / "audit-anchor.json").read_text())
    assert anchor.keys() == json.loads((every / "audit-anchor.json").read_text()).keys()

    code, out, err = _export(
        store, monkeypatch, capsys, "--out", str(tmp_path / "s"), "--format", "sdtm"
    )
    assert code == 0, err
    assert _files(tmp_path / "s") == {f for f in written if f.startswith("sdtm/")} | {
        "audit-anchor.json"
    }


@pytest.mark.parametrize("asked", ["csv,xlsx", "CSV", "", "csv,,sas"])
def test_an_unknown_format_is_one_line_exit_2_listing_the_allowed(
    asked: str,
    store: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "x"
    code, _, err = _export(store, monkeypatch, capsys, "--out", str(out), "--format", asked)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "unknown format" in err and "allowed: csv, spss, sas, sdtm" in err
    assert not out.exists()  # nothing written, not even the anchor


def test_the_export_modules_import_no_cycle() -> None:
    import grimp

    graph = grimp.build_graph("frailtrial", cache_dir=None)
    inside = set(MODULES)
    assert graph.find_descendants(PACKAGE) | {PACKAGE} == inside  # every module is checked
    edges = {m: graph.find_modules_directly_imported_by(m) & inside for m in inside}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for imported in edges[module]:
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(inside):
        visit(module, ())


def test_each_export_module_imports_alone(tmp_path: Path) -> None:
    """A fresh interpreter per module, the store set up and nothing else imported first."""
    code = "import importlib, sys; from frailtrial.edc import setup; setup(sys.argv[1]); "
    code += "importlib.import_module(sys.argv[2])"
    procs = {
        m: subprocess.Popen(
            [sys.executable, "-c", code, sqlite_url(tmp_path), m],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in MODULES
    }
    for module, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{module}: {err}"


def test_a_wrong_format_fails_before_the_store_or_django_is_touched(tmp_path: Path) -> None:
    """The registry names its writers without importing them: the CLI checks ``--format``
    first, so a wrong name opens (or creates) no store."""
    code = "import sys; from frailtrial.edc.services.exports.formats import parse_formats; "
    code += "parse_formats('sdtm,csv'); "
    code += "print(sorted(m for m in ('django', 'pandas') if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]"
    db = tmp_path / "store.sqlite3"
    cli = "from frailtrial.cli.main import run; run()"
    args = ["edc", "export", "--db", str(db), "--out", str(tmp_path / "x"), "--format", "spss,pdf"]
    proc = subprocess.run(
        [sys.executable, "-c", cli, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "unknown format 'pdf'" in proc.stderr
    assert not db.exists() and not (tmp_path / "x").exists()
