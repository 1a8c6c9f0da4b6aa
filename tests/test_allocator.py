"""glibc's allocator keeps freed memory for the next batch (stats/allocator.py): measured
by the page faults of a fresh process that makes and frees the same large arrays again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from frailtrial.stats import allocator

pytestmark = pytest.mark.skipif(not allocator._glibc(), reason="glibc's mallopt only")

CHURN = """
import resource
import numpy as np
from frailtrial.stats.allocator import keep_freed_memory
print(keep_freed_memory() if {tuned} else None)
faults = []
for _ in range(4):  # ten 3.2 MB arrays made and freed, as a layout's temporaries
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(400_000) for _ in range(10)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


def _churn(tuned: bool, **env: str) -> tuple[str, list[int]]:
    """Whether the thresholds were set, and the page faults of each round of the churn."""
    environ = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    proc = subprocess.run([sys.executable, "-c", CHURN.format(tuned=tuned)],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**environ, **env})  # fmt: skip
    answer, faults = proc.stdout.splitlines()
    return answer, [int(f) for f in faults.split()]


def test_freed_arrays_are_not_faulted_in_again() -> None:
    # by default glibc hands the 32 MB back and every round touches ~7,800 fresh pages
    assert _churn(tuned=False)[1][1:] > [4000] * 3
    answer, faults = _churn(tuned=True)
    assert answer == "True"
    assert max(faults[1:]) < 200, faults


def test_the_users_own_tunables_are_left_alone() -> None:
    answer, faults = _churn(tuned=True, MALLOC_TRIM_THRESHOLD_="131072")
    assert answer == "False"
    assert min(faults[1:]) > 4000  # the user's small trim threshold is what holds


def test_fit_many_sets_them() -> None:
    code = (
        "import numpy as np, pandas as pd\n"
        "from frailtrial.stats import allocator\n"
        "from frailtrial.stats.mmrm import fit_many\n"
        "assert allocator.keep_freed_memory.cache_info().currsize == 0\n"
        "rng = np.random.default_rng(1)\n"
        "d = pd.DataFrame({'id': np.repeat(np.arange(20), 3),"
        " 'visit': np.tile(['a', 'b', 'c'], 20), 'y': rng.normal(size=60)})\n"
        "fit_many([d], 'y ~ visit', 'id', 'visit')\n"
        "print(allocator.keep_freed_memory.cache_info().currsize, allocator.keep_freed_memory())\n"
    )
    environ = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=environ)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True"]  # called by fit_many, and set
