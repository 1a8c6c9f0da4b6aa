"""``frailtrial demo`` and ``frailtrial analyze --json`` end to end (in-process)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from frailtrial.cli.main import run
from test_analysis_tables import write_folder, write_protocol

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["frailtrial", *args])
    try:
        run()
    except SystemExit as exc:
        assert exc.code in (0, None)


def test_analyze_json_prints_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_folder(tmp_path / "data")
    protocol = write_protocol(tmp_path / "protocol.yaml")  # TUG primary: the data hold TUG
    _run(monkeypatch, "analyze", "--data", str(data), "--protocol", str(protocol),
         "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["consort"]["screened"] == 11
    assert doc["provenance"]["protocol"]["name"] == "huc-msc-2024"
    assert len(doc["provenance"]["protocol"]["sha256"]) == 64
    assert captured.err == ""  # no progress bar when not on a terminal
    assert (tmp_path / "out" / "report.html").is_file()
    # --json prints results.json, the same document the folder holds
    assert captured.out == (tmp_path / "out" / "results.json").read_text("utf-8")


@pytest.mark.slow
def test_demo_writes_report_and_prints_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "frailtrial-demo"
    _run(monkeypatch, "demo", "--out", str(out), "--seed", "3")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"report: {out / 'report.html'}"
    assert lines[1].startswith("screened 110, excluded 80, randomized 30")
    assert any(line.startswith("primary endpoint pcs_6m, PCS change") for line in lines)
    # the demo goes through the EDC store: its SQLite file, locked, and the export analysed
    assert lines[-1].startswith(f"EDC store: {out / 'trial.sqlite3'}")
    assert (out / "trial.sqlite3").is_file() and (out / "export" / "participants.csv").is_file()
    html = (out / "report.html").read_text("utf-8")
    assert "Table 1. Baseline characteristics" in html and "<svg" in html
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["provenance"]["seed"] == 3
    for name in ("table1.csv", "table2.csv", "table3.csv", "models.csv"):
        assert (out / "tables" / name).is_file()
    assert (out / "tables.docx").is_file()


def _schema(db: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with sqlite3.connect(db) as con:
        tables = con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        applied = con.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    return tables, applied


def test_demo_store_is_a_copy_of_the_cached_migrated_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's store starts as a copy of an empty store migrated once into the user
    cache: owner-only like a store migrated in place, with the same tables, triggers and
    applied migrations; with an unwritable cache the store is migrated in place."""
    from frailtrial.cli.demo import STORE, _fresh_store
    from frailtrial.edc import config

    monkeypatch.setenv("FRAILTRIAL_CACHE_DIR", str(tmp_path / "cache"))
    _fresh_store(tmp_path / "first")  # builds the cached store, then copies it
    (cached,) = (tmp_path / "cache" / "stores").glob("empty-*.sqlite3")
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no leftovers
    stamp = cached.stat().st_mtime_ns
    url = _fresh_store(tmp_path / "second")  # copies it
    assert cached.stat().st_mtime_ns == stamp
    copy = tmp_path / "second" / STORE
    assert url == f"sqlite:///{copy.resolve()}"
    for f in (cached, copy, tmp_path / "first" / STORE):
        assert f.stat().st_mode & 0o777 == 0o600, f
    in_place = tmp_path / "in_place.sqlite3"
    config.setup(f"sqlite:///{in_place}")
    from django.db import connections

    connections.close_all()
    tables, applied = _schema(copy)
    assert (tables, applied) == _schema(in_place)
    assert ("edc", "0001_initial") in applied and any("audit" in t for t, _ in tables)

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("FRAILTRIAL_CACHE_DIR", str(blocked))
    _fresh_store(tmp_path / "third")  # migrated in place, as the demo then opens it
    connections.close_all()
    assert _schema(tmp_path / "third" / STORE) == (tables, applied)


def test_report_templates_compile_once_into_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's templates are compiled once into <user cache>/jinja (owner-only) and
    loaded from there by the next process, the same page either way; a changed template
    is compiled again; an unwritable cache only costs the compile."""
    import jinja2

    from frailtrial.analysis import templates_env

    def env(templates: Path) -> jinja2.Environment:
        return jinja2.Environment(loader=jinja2.FileSystemLoader(templates),
                                  bytecode_cache=templates_env._UserBytecodeCache())  # fmt: skip

    monkeypatch.setenv("FRAILTRIAL_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "templates"
    src.mkdir()
    (src / "page.j2").write_text("{% for x in xs %}<b>{{ x }}</b>{% endfor %}")
    first = env(src).get_template("page.j2").render(xs=[1, 2])
    cached = list((tmp_path / "cache" / "jinja").iterdir())
    assert len(cached) == 1 and (tmp_path / "cache" / "jinja").stat().st_mode & 0o777 == 0o700
    again = env(src).get_template("page.j2")  # a new environment: loads the bytecode
    assert again.render(xs=[1, 2]) == first == "<b>1</b><b>2</b>"
    (src / "page.j2").write_text("{{ xs | length }}")
    assert env(src).get_template("page.j2").render(xs=[1, 2]) == "2"

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("FRAILTRIAL_CACHE_DIR", str(blocked))
    assert env(src).get_template("page.j2").render(xs=[7]) == "1"
