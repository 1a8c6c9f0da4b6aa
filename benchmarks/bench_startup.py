"""Benchmark of the command line as processes: how fast from the first command.

Each command runs as a fresh process (the installed ``frailtrial`` script, else
``python -m frailtrial``), several times; the median and the fastest wall time and the median
CPU time (user + system of the process) are printed beside the targets of issue 14 and
beside peers timed in the same run:

- ``python -c pass``: the interpreter's floor;
- ``python -c "import typer, pydantic"``: what any command of a typer 0.29 CLI loads (typer
  builds its parameter converters with pydantic), the floor of ``--version`` and ``score``;
- ``python -c "import pandas"``: one library import (every ratio is to it);
- the plain import of the libraries ``analyze`` uses (pandas, scipy.special and scipy.linalg,
  numba, formulaic, python-docx, Jinja2, pydantic, typer), as they import themselves
  (``analyze`` defers the parts of scipy and numpy they load and never use:
  stats/deferred.py); with Django, that of ``demo``;
- ``python -c "import pandas, scipy.stats"``: the usual first line of an analysis script in
  Python (``analyze`` itself no longer imports scipy.stats: ``stats/distributions.py``).

``analyze`` reads the 30-participant HUC-MSC trial (matched-published data, as
``bench_analysis.py``), with its worker process (the models fitted on the second core,
analysis/forked.py) and in one process (``FRAILTRIAL_NO_FORK=1``); ``demo`` runs the whole
main job (its timed runs find the user cache warm: the kernels, the migrated empty store,
the compiled report templates). Unless ``--no-cold``, what ``make demo`` runs after its
``pip install`` is timed on an empty cache (a fresh machine: ``FRAILTRIAL_CACHE_DIR``
pointed at a new folder): the compile of the ``us`` MMRM kernels, then one ``frailtrial
demo`` (which migrates the empty store and compiles the templates into that cache); their
sum is printed against the 90 s target. The ``us`` compile is also timed against the warm
per-user cache (a second checkout or reinstall of the same source loads it).
The MMRM kernels must be compiled first (``make kernels``; ``make bench`` does it). On a
shared machine the wall times carry the other processes' load and the CPU time does not, so
each target is judged on both (on an idle machine the wall time is about the CPU time, less
where a command runs threads, plus any wait on the disk).

Run: PYTHONPATH=src python benchmarks/bench_startup.py [--repeat 7] [--no-demo] [--no-cold]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANALYZE_LIBS = (
    "import pandas, scipy.special, scipy.linalg, numba, formulaic, docx, jinja2, pydantic, typer"
)


@dataclass(frozen=True)
class Timing:
    """Wall-clock median and minimum, and median CPU seconds (user + system) of the runs."""

    median: float
    fastest: float
    cpu: float


def _frailtrial() -> list[str]:
    script = Path(sys.executable).with_name("frailtrial")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "frailtrial"]


def _times(
    args: list[str], repeat: int, stdin: str = "", env: dict[str, str] | None = None
) -> Timing:
    """``repeat`` timed runs after one untimed warm-up run (so every timed run finds the
    files in the OS cache)."""
    walls, cpus = [], []
    for i in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, input=stdin, text=True, check=True, capture_output=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def _once(args: list[str], env: dict[str, str] | None = None) -> Timing:
    """One timed run (for what the first run itself is the subject of: a cold compile)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, text=True, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Timing(wall, wall, cpu)


def _line(label: str, t: Timing, target: float | None, peer: float) -> str:
    verdict = "" if target is None else (
        f"target < {target:g} s: {'met' if t.median < target else 'NOT met'} "
        f"(cpu: {'met' if t.cpu < target else 'NOT met'})"
    )  # fmt: skip
    return (
        f"  {label:<52} {t.median:7.3f} s (min {t.fastest:7.3f}, cpu {t.cpu:7.3f})  "
        f"{t.median / peer:6.2f}x the pandas import  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each quick command")
    parser.add_argument("--no-demo", action="store_true", help="skip `frailtrial demo`")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold kernel compile")
    opts = parser.parse_args()
    cli = _frailtrial()
    py = sys.executable
    quick = max(1, opts.repeat)
    slow = max(1, opts.repeat // 3)
    rows: list[tuple[str, Timing, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        subprocess.run(
            [*cli, "simulate", "--protocol", "huc-msc-2024", "--seed", "1",
             "--match-published", "--out", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        pandas = _times([py, "-c", "import pandas"], quick)
        answers = '{"side_by_side_s": 10, "semi_tandem_s": 10, "tandem_s": 4.2}'
        rows += [
            ("python -c pass (peer: the floor)", _times([py, "-c", "pass"], quick), None),
            ('python -c "import typer, pydantic" (peer)',
             _times([py, "-c", "import typer, pydantic"], quick), None),
            ('python -c "import pandas" (peer)', pandas, None),
            ("frailtrial --version", _times([*cli, "--version"], quick), 0.3),
            ("frailtrial --help", _times([*cli, "--help"], quick), None),
            ("frailtrial score sppb --json (one answer set)",
             _times([*cli, "score", "sppb", "--json"], quick, answers), 0.6),
            ("plain import of the libraries analyze uses (peer)",
             _times([py, "-c", ANALYZE_LIBS], slow), None),
            ('python -c "import pandas, scipy.stats" (peer)',
             _times([py, "-c", "import pandas, scipy.stats"], slow), None),
            ("frailtrial analyze (30 participants)",
             _times([*cli, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
                     "--out", str(root / "analysis")], slow), 2.0),
            ("... in one process (FRAILTRIAL_NO_FORK=1)",
             _times([*cli, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
                     "--out", str(root / "analysis1")], slow,
                    env={**os.environ, "FRAILTRIAL_NO_FORK": "1"}), None),
        ]  # fmt: skip
        if not opts.no_demo:
            rows.append(
                ("... and Django (peer of demo)",
                 _times([py, "-c", ANALYZE_LIBS + ", django"], slow), None)
            )  # fmt: skip
            demo = _times([*cli, "demo", "--out", str(root / "demo")], slow)
            rows.append(("frailtrial demo (simulate, EDC, export, analyse)", demo, 6.0))
        if not opts.no_cold:
            compile_us = [py, str(ROOT / "scripts" / "compile_kernels.py"), "us"]
            cold_env = {**os.environ, "FRAILTRIAL_CACHE_DIR": str(root / "cold-cache")}
            cold = _once(compile_us, cold_env)
            rows.append(("compile_kernels.py us, empty cache (fresh machine)", cold, None))
            rows.append(
                ("compile_kernels.py us, warm cache (another checkout)",
                 _times(compile_us, slow), None)
            )  # fmt: skip
            if not opts.no_demo:
                first = _once([*cli, "demo", "--out", str(root / "demo-cold")], cold_env)
                rows.append(("frailtrial demo, first on that fresh machine", first, None))
                whole = Timing(cold.median + first.median, cold.fastest + first.fastest,
                               cold.cpu + first.cpu)  # fmt: skip
                rows.append(("make demo less pip install (cold compile + demo)", whole, 90.0))
    print(
        f"command line as processes: median of {quick} runs ({slow} for analyze, demo and "
        "the warm kernel load; one cold compile and first demo); load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    for label, times, target in rows:
        print(_line(label, times, target, pandas.median))


if __name__ == "__main__":
    main()
