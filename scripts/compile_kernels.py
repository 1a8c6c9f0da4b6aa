"""Compile the numba kernels of the MMRM once and cache them on disk.

The first ``fit_many`` (or ``mmrm``) call of a fresh checkout compiles them (about half a
minute); the test and benchmark targets run this first so that their worker processes
load the cached machine code instead of compiling it each.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from frailtrial.stats.mmrm import fit_many


def main() -> None:
    rng = np.random.default_rng(0)
    n, visits = 8, ["V1", "V2", "V3"]
    data = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), len(visits)),
            "visit": np.tile(visits, n),
            "arm": np.repeat(["A", "B"], n // 2 * len(visits)),
            "y": rng.normal(size=n * len(visits)),
        }
    )
    t0 = time.perf_counter()
    for covariance in ("us", "ar1"):  # the us optimiser; the evaluation kernel and solver
        fit_many([data, data], "y ~ arm*visit", "id", "visit", covariance=covariance)
    print(f"MMRM kernels compiled and cached ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
