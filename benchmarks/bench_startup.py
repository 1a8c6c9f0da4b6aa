"""Benchmark of the command line as processes: how fast from the first command.

Each command runs as a fresh process (the installed ``frailtrial`` script, else
``python -m frailtrial``), several times; the median and the fastest run are printed beside
the targets of issue 14 and beside peers timed in the same run: ``python -c pass`` (the
interpreter's floor) and ``python -c "import pandas"`` (one library import), with the ratio
of ours to the pandas import. ``analyze`` reads the 30-participant HUC-MSC trial
(matched-published data, as ``bench_analysis.py``); ``demo`` runs the whole main job.
The MMRM kernels must be compiled first (``make kernels``; ``make bench`` does it).

Run: PYTHONPATH=src python benchmarks/bench_startup.py [--repeat 7] [--no-demo]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _frailtrial() -> list[str]:
    script = Path(sys.executable).with_name("frailtrial")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "frailtrial"]


def _times(args: list[str], repeat: int, stdin: str = "") -> tuple[float, float]:
    """Median and minimum wall time of ``repeat`` runs (one untimed warm-up run first, so
    every timed run finds the files in the OS cache)."""
    runs = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)
        if i:
            runs.append(time.perf_counter() - start)
    return statistics.median(runs), min(runs)


def _line(label: str, times: tuple[float, float], target: float | None, peer: float) -> str:
    median, fastest = times
    verdict = "" if target is None else (
        f"target < {target:g} s: {'met' if median < target else 'NOT met'}"
    )  # fmt: skip
    return (
        f"  {label:<50} {median:6.3f} s (min {fastest:6.3f})  "
        f"{median / peer:5.2f}x the pandas import  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each quick command")
    parser.add_argument("--no-demo", action="store_true", help="skip `frailtrial demo`")
    opts = parser.parse_args()
    cli = _frailtrial()
    quick = max(1, opts.repeat)
    slow = max(1, opts.repeat // 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        subprocess.run(
            [*cli, "simulate", "--protocol", "huc-msc-2024", "--seed", "1",
             "--match-published", "--out", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        floor = _times([sys.executable, "-c", "pass"], quick)
        pandas = _times([sys.executable, "-c", "import pandas"], quick)
        peer = pandas[0]
        answers = '{"side_by_side_s": 10, "semi_tandem_s": 10, "tandem_s": 4.2}'
        rows = [
            ("python -c pass (peer: the floor)", floor, None),
            ('python -c "import pandas" (peer)', pandas, None),
            ("frailtrial --version", _times([*cli, "--version"], quick), 0.3),
            ("frailtrial --help", _times([*cli, "--help"], quick), None),
            ("frailtrial score sppb --json (one answer set)",
             _times([*cli, "score", "sppb", "--json"], quick, answers), 0.6),
            ("frailtrial analyze (30 participants)",
             _times([*cli, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
                     "--out", str(root / "analysis")], slow), 2.0),
        ]  # fmt: skip
        if not opts.no_demo:
            demo = _times([*cli, "demo", "--out", str(root / "demo")], slow)
            rows.append(("frailtrial demo (simulate, EDC, export, analyse)", demo, 6.0))
        shutil.rmtree(root / "demo", ignore_errors=True)
    print(f"command line as processes: median of {quick} runs ({slow} for analyze and demo)")
    for label, times, target in rows:
        print(_line(label, times, target, peer))


if __name__ == "__main__":
    main()
