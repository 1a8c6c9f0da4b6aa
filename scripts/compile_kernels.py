"""Compile the numba kernels of the MMRM once and cache them on disk.

usage: python scripts/compile_kernels.py [STRUCTURE ...]   (default: us ar1)

``us`` compiles the compiled optimiser (what ``mmrm``/``fit_many`` run for an unstructured
covariance: the demo and the protocols' primary models) and the Satterthwaite kernels of
``estimate_many``; ``ar1`` the evaluation kernel and the Newton step the other structures
use. Several structures compile in parallel processes
(numba compiles on one core). The cache is per user and keyed by the kernels' source hash
(``frailtrial.stats.kernel_cache``): a second checkout or a reinstall of the same source
loads it instead of compiling; the test and benchmark workers load it too.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from frailtrial.stats.kernel_warmup import run_kernels

STRUCTURES = ("us", "ar1")


def main(structures: list[str]) -> None:
    unknown = sorted(set(structures) - set(STRUCTURES))
    if unknown:
        print(f"error: unknown structure {', '.join(unknown)}; use {' or '.join(STRUCTURES)}",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    t0 = time.perf_counter()
    workers = min(len(structures), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:  # forked before numba loads here
        took = dict(zip(structures, pool.map(run_kernels, structures), strict=True))
    from frailtrial.stats.kernel_cache import cache_root

    each = ", ".join(f"{s} {t:.1f} s" for s, t in took.items())
    print(
        f"MMRM kernels compiled or loaded ({each}; {time.perf_counter() - t0:.1f} s in all), "
        f"cached under {cache_root() / 'numba'}"
    )


if __name__ == "__main__":
    main(sys.argv[1:] or list(STRUCTURES))
