"""Sensitivity-analysis speed on R rbmi's antidepressant example (172 subjects, 4 visits).

    PYTHONPATH=src python benchmarks/bench_sensitivity.py [--repeat 5]

(a) conditional mean imputation with jackknife under JR (173 MMRM fits, imputation,
    ANCOVA per visit, pooling), against R rbmi's time recorded in
    the project's rbmi reference (rbmi 1.6: 22.6 s on a 2-core machine; R is not part of
    the suite);
(b) a tipping-point grid of 20 deltas with the jackknife (fits and imputations once, the
    analysis per delta, and the exact tipping delta);
(c) conditional mean imputation with 1,000 bootstrap samples (1,001 MMRM fits).
Each figure is the best of ``--repeat`` runs after one warm-up (kernels loaded): wall
time, and the CPU time of the process beside it (on a machine shared with other work the
wall time grows with the load average, printed first; the CPU time does not).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.stats.sensitivity import prepare_imputations, run_sensitivity, tipping_point

REF = Path(__file__).resolve().parents[1] / "tests" / "reference"
R_RBMI_SECONDS = 22.6  # R rbmi 1.6 as recorded: draws + impute + analyse + pool, JR


def example() -> tuple[pd.DataFrame, dict[str, Any]]:
    """The data and rbmi's quickstart ICEs (first missing visit; 3618 left out)."""
    data = pd.read_csv(REF / "antidepressant_data.csv")
    data["THERAPY"] = pd.Categorical(data["THERAPY"], ["PLACEBO", "DRUG"])
    wide = data.pivot(index="PATIENT", columns="VISIT", values="CHANGE")
    wide = wide.reindex(columns=[4, 5, 6, 7])
    ice = pd.DataFrame(
        [
            {"PATIENT": pid, "VISIT": int(wide.columns[np.argmax(row.isna().to_numpy())])}
            for pid, row in wide.iterrows()
            if row.isna().any() and pid != 3618
        ]
    )
    args = {
        "formula": "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT",
        "subject": "PATIENT",
        "visit": "VISIT",
        "group": "THERAPY",
        "reference": "PLACEBO",
        "analysis": "CHANGE ~ THERAPY + BASVAL",
        "ice": ice,
        "strategy": "JR",
    }
    return data, args


def best(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (seconds) of ``repeat`` runs after a warm-up."""
    run()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    data, args = example()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    jack, jack_cpu = best(lambda: run_sensitivity(data, **args), opts.repeat)
    print(f"(a) condmean jackknife, JR (173 MMRM fits): {jack:.3f} s (CPU {jack_cpu:.3f} s; "
          f"target < 0.25 s); R rbmi {R_RBMI_SECONDS} s (recorded); "
          f"ratio {R_RBMI_SECONDS / jack:.0f}x")  # fmt: skip

    def grid() -> None:
        tipping_point(prepare_imputations(data, **args), np.linspace(-5, 5, 20))

    tip, tip_cpu = best(grid, opts.repeat)
    found = tipping_point(prepare_imputations(data, **args), np.linspace(-5, 5, 20))
    print(f"(b) tipping-point grid of 20 deltas, jackknife: {tip:.3f} s (CPU {tip_cpu:.3f} s; "
          f"target < 2 s); tipping delta at visit {found.visit}: "
          f"{found.tipping_delta:.4f}")  # fmt: skip

    def boot() -> None:
        run_sensitivity(data, method="condmean-bootstrap", samples=1000, seed=1, **args)

    bootstrap, boot_cpu = best(boot, opts.repeat)
    print(f"(c) condmean bootstrap, 1,000 samples (1,001 MMRM fits): {bootstrap:.3f} s "
          f"(CPU {boot_cpu:.3f} s over the threads; target < 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
