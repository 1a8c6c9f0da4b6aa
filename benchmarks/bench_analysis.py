"""Benchmark of the trial analysis (``frailtrial analyze``).

1. The 30-participant HUC-MSC trial (matched-published data) analysed as a whole process
   (``python -m frailtrial analyze``; issue 14's target < 2 s), against a peer process that
   only reads measurements.csv with pandas and prints a groupby describe by arm x visit x
   variable; the best of ``--repeat`` runs each, wall and CPU (user + system) time, and the
   load average (the machine may be shared; bench_startup.py times it among other peers).
2. A 10,000-participant, 6-visit, 12-endpoint trial (the simulator at 5,000 per arm) read,
   analysed and written in-process (target < 60 s), against the same pandas peer on the
   same files, timed in the same run; the analysis' stages are timed one by one.

Run: PYTHONPATH=src python benchmarks/bench_analysis.py [--n-per-arm 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from frailtrial.analysis.pipeline import analyze, write_outputs
from frailtrial.analysis.provenance import provenance
from frailtrial.dataset import read_dataset, write_dataset
from frailtrial.protocol import load
from frailtrial.simulate import simulate_trial

PEER = (
    "import pandas as pd, sys; m = pd.read_csv(sys.argv[1] + '/measurements.csv'); "
    "p = pd.read_csv(sys.argv[1] + '/participants.csv', usecols=['participant_id', 'arm']); "
    "print(m.merge(p).groupby(['variable', 'arm', 'visit'])['value'].describe().shape)"
)


def _process(args: list[str], repeat: int) -> tuple[float, float]:
    """The best wall and the best CPU time (user + system) of ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def _peer_in_process(folder: Path) -> float:
    start = time.perf_counter()
    m = pd.read_csv(folder / "measurements.csv")
    p = pd.read_csv(folder / "participants.csv", usecols=["participant_id", "arm"])
    m.merge(p).groupby(["variable", "arm", "visit"])["value"].describe()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-arm", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each small process")
    opts = parser.parse_args()
    protocol = load("huc-msc-2024")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = root / "small"
        write_dataset(simulate_trial(protocol, 1, match_published=True), small)
        ours, ours_cpu = _process(
            [sys.executable, "-m", "frailtrial", "analyze", "--data", str(small),
             "--protocol", protocol.name, "--out", str(root / "out_small")], opts.repeat
        )  # fmt: skip
        peer, peer_cpu = _process([sys.executable, "-c", PEER, str(small)], opts.repeat)
        avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"30 participants, whole process (best of {opts.repeat}, load average {avg}): "
              f"frailtrial analyze {ours:.2f} s, cpu {ours_cpu:.2f} s (target < 2 s: "
              f"{'met' if ours < 2 else 'NOT met'}, cpu: {'met' if ours_cpu < 2 else 'NOT met'}"
              f"); pandas read+groupby describe process {peer:.2f} s, cpu {peer_cpu:.2f} s; "
              f"ratio {ours / peer:.1f}x (cpu {ours_cpu / peer_cpu:.1f}x)")  # fmt: skip

        big = root / "big"
        start = time.perf_counter()
        write_dataset(simulate_trial(protocol, 7, n_per_arm=opts.n_per_arm), big)
        sim = time.perf_counter() - start
        stages: dict[str, float] = {}
        current = ["reading the dataset", time.perf_counter()]

        def step(name: str) -> None:
            now = time.perf_counter()
            stages[str(current[0])] = now - float(current[1])
            current[:] = [name, now]

        start = time.perf_counter()
        ds = read_dataset(big, protocol)
        result = analyze(ds, protocol, provenance(protocol, big, 7), step)
        write_outputs(result, root / "out_big", step)
        step("done")
        ours = time.perf_counter() - start
        peer = _peer_in_process(big)
        n = len(ds.participants)
        rows = len(ds.measurements)
        print(f"{n} participants ({rows} measurements; simulated in {sim:.1f} s): "
              f"read+analyse+write {ours:.1f} s (target < 60 s); pandas peer {peer:.2f} s; "
              f"ratio {ours / peer:.0f}x")  # fmt: skip
        print("  stages (each timed from the previous): " + ", ".join(
            f"{k} {v:.1f} s" for k, v in stages.items()))  # fmt: skip


if __name__ == "__main__":
    main()
