"""Fitting two tiny data sets: what compiles the MMRM's numba kernels, or loads them.

``scripts/compile_kernels.py`` runs it to fill the per-user kernel cache; ``analyze``'s
worker process (analysis/forked.py) runs it to load the kernels (and initialise numba's
compiler target, ~0.2 s of the first call in a process) while the parent reads the data:
only the fit's kernels, since the plans' models take their df without ``estimate_many``'s
(each kernel loaded from the cache costs ~0.02 s).
"""

from __future__ import annotations

import time


def run_kernels(covariance: str = "us", contrasts: bool = True) -> float:
    """Fit two tiny data sets with ``covariance`` (and, for us with ``contrasts``, test
    their contrasts: the Satterthwaite kernels of ``estimate_many``), which compiles, or
    loads from the cache, what that runs; seconds taken."""
    import numpy as np
    import pandas as pd

    from frailtrial.stats.mmrm import estimate_many, fit_many

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
    fits = fit_many([data, data], "y ~ arm*visit", "id", "visit", covariance=covariance)
    if (
        covariance == "us" and contrasts
    ):  # estimate_many's Satterthwaite kernels (one compile serves all)
        estimate_many(fits, fits[0].treatment_contrast_matrix()[1])
    return time.perf_counter() - t0
