"""The command line starts fast: no numpy, pandas, numba or Django until a command needs
them, and ``analyze`` never scipy.stats or matplotlib; a missing dependency is one line and
exit status 2; nothing in src/ imports statsmodels."""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fresh_python import output_lines, run_python

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src" / "frailtrial"
HEAVY = ("pandas", "numba", "django", "scipy", "scipy.stats", "matplotlib", "statsmodels", "numpy")
MMRM_ARGS = ["--data", "x.csv", "--formula", "y ~ a", "--subject", "s", "--visit", "v"]
BALANCE = '{"side_by_side_s": 10, "semi_tandem_s": 10, "tandem_s": 10}'

# Runs the CLI as the console script does, with some modules made unimportable (argv[2],
# comma-separated), and writes the heavy libraries it imported to the file argv[1].
DRIVER = """
import atexit, json, sys

report, blocked = sys.argv[1], set(filter(None, sys.argv[2].split(",")))


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())


def _report():
    with open(report, "w") as f:
        json.dump([m for m in HEAVY if m in sys.modules], f)


atexit.register(_report)
sys.argv = ["frailtrial", *sys.argv[3:]]
from frailtrial.cli.main import run

run()
""".replace("HEAVY", repr(HEAVY))

# Walks every command of the (typer-vendored) click tree, renders its help and checks that
# each option is listed.
HELP_WALK = """
import contextlib, io, json, sys
import typer
from frailtrial.cli.main import app

def walk(cmd, path):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():  # a group: its commands
        yield from walk(sub, [*path, name])

root = typer.main.get_command(app)
missing = []
for path, cmd in walk(root, ["frailtrial"]):
    ctx = cmd.context_class(cmd, info_name=" ".join(path))
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # typer's rich help prints
        text = cmd.get_help(ctx) or ""
    text += printed.getvalue()
    for param in cmd.params:
        if param.param_type_name == "option" and not any(o in text for o in param.opts):
            missing.append(f"{' '.join(path)} {param.opts[0]}")
heavy = [m for m in HEAVY if m in sys.modules]
print(json.dumps({"commands": len(list(walk(root, []))), "missing": missing, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


def _cli(
    tmp_path: Path, *args: str, blocked: str = "", stdin: str = "", fork: bool = True
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    report = tmp_path / "imported.json"
    env = {k: v for k, v in os.environ.items() if k != "FRAILTRIAL_NO_FORK"}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(report), blocked, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env if fork else {**env, "FRAILTRIAL_NO_FORK": "1"},
    )
    return proc, json.loads(report.read_text())


@pytest.mark.parametrize("args", [["--version"], ["--help"], []])
def test_version_and_help_import_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    proc, imported = _cli(tmp_path, *args)
    assert proc.returncode in (0, 2), proc.stderr  # bare `frailtrial` shows help (exit 2)
    assert "frailtrial" in proc.stdout
    assert imported == [], f"frailtrial {' '.join(args)} imported {imported}"


def test_score_imports_no_heavy_library(tmp_path: Path) -> None:
    """Scoring one instrument loads only its module: no numpy (fev1 and labs use it), no
    pandas, numba, Django, scipy or matplotlib."""
    proc, imported = _cli(tmp_path, "score", "sppb", "--json", stdin=BALANCE)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["balance"] == 4  # it did score (all three stands held)
    assert imported == [], imported


@pytest.mark.parametrize("fork", [True, False], ids=["worker", "no-fork"])
def test_analyze_imports_no_scipy_stats_matplotlib_or_django(tmp_path: Path, fork: bool) -> None:
    """``analyze`` takes its distributions from scipy.special (stats.distributions), its
    Shapiro-Wilk from stats.shapiro and draws its figures itself: scipy.stats (0.5-0.7 s
    of CPU to import), matplotlib and Django stay unloaded. The model engines (numba) load
    in the worker process that fits the models (analysis/forked.py), not in the command's
    own process; with FRAILTRIAL_NO_FORK the command fits them itself."""
    data = tmp_path / "data"
    proc, _ = _cli(tmp_path, "simulate", "--protocol", "huc-msc-2024", "--seed", "1",
                   "--match-published", "--out", str(data))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc, imported = _cli(tmp_path, "analyze", "--data", str(data), "--protocol",
                          "huc-msc-2024", "--out", str(tmp_path / "out"), fork=fork)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "primary endpoint" in proc.stdout  # it did analyse
    assert {"pandas", "scipy"} <= set(imported)  # the driver does see imports
    assert ("numba" in imported) is not fork, imported
    assert not {"scipy.stats", "matplotlib", "django", "statsmodels"} & set(imported), imported
    # the process skipped its final collection (run() froze it at exit): every file whole
    out = tmp_path / "out"
    assert json.loads((out / "results.json").read_text("utf-8"))["headline"]["endpoint"]
    assert (out / "report.html").read_text("utf-8").rstrip().endswith("</html>")
    with zipfile.ZipFile(out / "tables.docx") as docx:
        assert docx.testzip() is None and "word/document.xml" in docx.namelist()


def test_the_interpreter_skips_its_final_collection() -> None:
    """run() freezes the collector after the other exit handlers: the interpreter's last
    full collection (0.5 s of CPU after analyze) is skipped (this handler, registered
    before run(), runs after that one)."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "sys.argv = ['frailtrial', '--version']\n"
        "from frailtrial.cli.main import run\n"
        "run()\n"
    )
    assert output_lines(code)[-1] == "frozen True"


def test_no_cyclic_collection_while_a_command_runs() -> None:
    """run() turns the collector off for the command (its full passes over the imported
    libraries' objects cost 0.3 s of analyze) and back on when it returns, for a program
    that calls run() in its own process (as the tests do)."""
    code = (
        "import gc, sys\n"
        "from frailtrial.cli import main\n"
        "@main.app.command('probe')\n"
        "def probe() -> None:\n"
        "    print('during', gc.isenabled())\n"
        "sys.argv = ['frailtrial', 'probe']\n"
        "try:\n"
        "    main.run()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('after', gc.isenabled())\n"
    )
    assert output_lines(code) == ["during False", "after True"]


def test_serve_workers_collect_cycles(tmp_path: Path) -> None:
    """serve's workers live long: the collector is back on (after freezing what the parent
    imported) when gunicorn takes over; the server's run is replaced by a probe that prints
    the collector's state and returns."""
    code = (
        "import gc, sys\n"
        "from gunicorn.app.base import BaseApplication\n"
        "BaseApplication.run = lambda self: print('serving', gc.isenabled(),\n"
        "                                        gc.get_freeze_count() > 0)\n"
        f"sys.argv = ['frailtrial', 'serve', '--db', 'sqlite:///{tmp_path / 's.sqlite3'}']\n"
        "from frailtrial.cli.main import run\n"
        "run()\n"
    )
    assert output_lines(code, timeout=180)[-1] == "serving True True"


@pytest.mark.parametrize(
    ("args", "status", "stderr"),
    [(["--version"], 0, ""), (["protocol", "show", "no-such"], 2, "error: "), ([], 2, "")],
)
def test_the_console_entry_skips_teardown_but_keeps_handlers_and_status(
    args: list[str], status: int, stderr: str
) -> None:
    """console() ends the process without the interpreter's teardown (0.14 s after
    analyze) after running the exit handlers once, with run()'s exit status and its
    output flushed."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('handler ran', flush=True))\n"
        f"sys.argv = ['frailtrial', *{args!r}]\n"
        "from frailtrial.cli.main import console\n"
        "console()\n"
        "print('not reached')\n"
    )
    proc = run_python(code, timeout=60)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout.count("handler ran") == 1 and "not reached" not in proc.stdout
    assert proc.stderr.startswith(stderr)


def test_piped_json_of_analyze_arrives_whole(tmp_path: Path) -> None:
    """``analyze --json`` through the console entry writes the whole results.json to a
    pipe before the process ends without its teardown."""
    data = tmp_path / "data"
    cli = [sys.executable, "-m", "frailtrial"]
    subprocess.run([*cli, "simulate", "--protocol", "huc-msc-2024", "--seed", "2", "--out",
                    str(data)], check=True, capture_output=True, timeout=300)  # fmt: skip
    proc = subprocess.run([*cli, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
                           "--out", str(tmp_path / "out"), "--json"], capture_output=True,
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) > 50_000
    assert json.loads(proc.stdout) == json.loads((tmp_path / "out" / "results.json").read_bytes())


def test_an_open_sqlite_store_is_closed_at_exit(tmp_path: Path) -> None:
    """Django's connection objects are reference cycles: the collection the CLI skips at
    exit would have closed them, so run() closes them first; the store's write-ahead log
    is folded back into the file (no -wal left beside it, every row in the file)."""
    store = tmp_path / "store.sqlite3"
    code = (
        "import sys\n"
        "from frailtrial.edc import config\n"
        f"config.setup('sqlite:///{store}')\n"
        "from django.contrib.auth.models import Group\n"
        "Group.objects.create(name='monitors')\n"
        "sys.argv = ['frailtrial', '--version']\n"
        "from frailtrial.cli.main import run\n"
        "run()\n"
    )
    output_lines(code, timeout=120)  # it succeeds
    assert not Path(f"{store}-wal").exists()
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        assert con.execute("SELECT name FROM auth_group").fetchall() == [("monitors",)]


def test_every_command_help_lists_its_options_without_loading_layers() -> None:
    walked = json.loads("\n".join(output_lines(HELP_WALK, timeout=120)))
    assert walked["commands"] >= 30  # the groups and their commands were all reached
    assert walked["missing"] == []
    assert walked["heavy"] == []


@pytest.mark.parametrize(
    ("args", "blocked", "package"),
    [
        (["serve", "--port", "8765"], "gunicorn", "gunicorn"),
        (["stats", "mmrm", *MMRM_ARGS], "pandas", "pandas"),
        (
            ["edc", "init", "--protocol", "huc-msc-2024", "--db", "postgresql://localhost:1/x"],
            "psycopg,psycopg2",
            "psycopg",
        ),
        (["design", "power", "--help"], "", None),
    ],
)
def test_missing_dependency_is_one_line_exit_2(
    tmp_path: Path, args: list[str], blocked: str, package: str | None
) -> None:
    proc, _ = _cli(tmp_path, *args, blocked=blocked)
    if package is None:  # control: nothing blocked, the command's help works
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"needs the Python package {package!r}" in lines[0]
    if package == "psycopg":  # Django reports it as ImproperlyConfigured; the extra is named
        assert "pip install 'frailtrial[postgres]'" in lines[0]


def test_optional_extra_is_named(tmp_path: Path) -> None:
    """A package of an optional extra names the extra that installs it."""
    code = (
        "from frailtrial.cli.main import missing_module;"
        "print(missing_module(ModuleNotFoundError(name='statsmodels.api')))"
    )
    assert "pip install 'frailtrial[bench]'" in "\n".join(output_lines(code))


def test_nothing_in_src_imports_statsmodels() -> None:
    """statsmodels is the benchmarks' peer (the `bench` extra), not a dependency of ours."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.partition(".")[0] == "statsmodels"]
    assert found == []


def test_piped_progress_does_not_load_rich() -> None:
    """analyze, replicate and demo show no progress bar when stderr is not a terminal, and
    then do not import Rich at all."""
    code = (
        "import sys\n"
        "from frailtrial.cli.analyze import progress\n"
        "with progress(3) as step:\n"
        "    step('reading')\n"
        "print('rich' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert (out.stdout.strip(), out.stderr) == ("False", "")
