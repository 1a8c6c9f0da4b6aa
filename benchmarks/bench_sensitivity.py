"""Sensitivity-analysis speed on R rbmi's antidepressant example (172 subjects, 4 visits).

    PYTHONPATH=src python benchmarks/bench_sensitivity.py [--repeat 5]

(a) conditional mean imputation with jackknife under JR (173 MMRM fits, imputation,
    ANCOVA per visit, pooling), against R rbmi's time recorded in
    the project's rbmi reference (rbmi 1.6: 22.6 s on a 2-core machine; R is not part of
    the suite);
(b) a tipping-point grid of 20 deltas with the jackknife (fits and imputations once, the
    analysis per delta, and the exact tipping delta);
(c) conditional mean imputation with 1,000 bootstrap samples (1,001 MMRM fits);
(d) the JR jackknife of a simulated trial of ``--large`` subjects (5 visits, dropout) from
    per-pattern sums, against the same fits and analysis laid out in full (the n + 1
    completed data sets, imputed and analysed a chunk at a time: what the jackknife did
    before the sums), in the same run, the results compared; then 10,000 subjects from the
    sums alone (laid out in full: O(n^2) time, ~40 s by (d)'s figure times 25).
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
from frailtrial.stats.sensitivity.fitting import fit_samples
from frailtrial.stats.sensitivity.layout import build_layout
from frailtrial.stats.sensitivity.run import _analysed

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
    return data, _args(ice)


def _args(ice: pd.DataFrame) -> dict[str, Any]:
    """run_sensitivity's arguments for rbmi's example's columns, JR, with these ICEs."""
    return {
        "formula": "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT",
        "subject": "PATIENT",
        "visit": "VISIT",
        "group": "THERAPY",
        "reference": "PLACEBO",
        "analysis": "CHANGE ~ THERAPY + BASVAL",
        "ice": ice,
        "strategy": "JR",
    }


def simulated(n: int, seed: int = 3) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A two-arm trial of ``n`` subjects, 5 visits, ~35 % monotone dropout, its ICEs at
    the first missing visit (JR)."""
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "PLACEBO", "DRUG")
    base = rng.normal(20, 4, n)
    lag = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    y = (
        -0.3 * base[:, None]
        + np.linspace(-1, -4, 5)
        - (arm == "DRUG")[:, None] * np.linspace(0.5, 3, 5)
        + rng.standard_normal((n, 5)) @ np.linalg.cholesky(9.0 * 0.6**lag).T
    )
    drop = np.where(rng.uniform(size=n) < 0.35, rng.integers(1, 5, n), 5)
    ids, vis = np.nonzero(np.arange(5)[None, :] < drop[:, None])
    data = pd.DataFrame(
        {
            "PATIENT": ids,
            "VISIT": vis + 1,
            "THERAPY": pd.Categorical(arm[ids], ["PLACEBO", "DRUG"]),
            "BASVAL": base[ids],
            "CHANGE": y[ids, vis],
        }
    )
    dropped = np.flatnonzero(drop < 5)
    return data, _args(pd.DataFrame({"PATIENT": dropped, "VISIT": drop[dropped] + 1}))


def laid_out(data: pd.DataFrame, args: dict[str, Any]) -> Any:
    """The JR jackknife's effects with its n + 1 data sets laid out in full (the peer):
    fitted from the subject arrays with one subject flagged out, imputed and analysed a
    chunk of samples at a time."""
    layout = build_layout(data, **args)
    n = layout.n
    present = np.ones((n + 1, n), dtype=bool)
    present[np.arange(1, n + 1), np.arange(n)] = False
    fits = fit_samples(layout, np.tile(np.arange(n), (n + 1, 1)), present)
    counts = present.astype(float)
    return _analysed(layout, fits, lambda rows: counts[rows], layout.shift, None).at(0.0).effect


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
    parser.add_argument("--large", type=int, default=2000, help="subjects of (d)")
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

    big, big_args = simulated(opts.large)
    sums = prepare_imputations(big, **big_args).parts.at(0.0).effect
    full = laid_out(big, big_args)
    gap = float(np.abs(sums - full).max())
    ours, _ = best(lambda: prepare_imputations(big, **big_args).result(), 1)
    start = time.perf_counter()
    laid_out(big, big_args)
    peer = time.perf_counter() - start
    print(f"(d) JR jackknife of {opts.large:,} subjects: from sums {ours:.2f} s; laid out in "
          f"full {peer:.2f} s (the same run; largest difference of the effects {gap:.1e}); "
          f"ratio {peer / ours:.0f}x")  # fmt: skip
    huge, huge_args = simulated(10_000)
    start = time.perf_counter()
    prepare_imputations(huge, **huge_args).result()
    print(f"    10,000 subjects (10,001 MMRM fits) from sums: "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
