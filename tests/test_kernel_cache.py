"""The numba kernels' cache is per user and keyed by the source's hash: a second checkout
(another path, new file times) of the same source loads what the first compiled."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

KERNEL = """
from numba import njit

from frailtrial.stats.kernel_cache import use_user_cache

use_user_cache(__file__)


@njit(cache=True)
def scaled(x):
    return FACTOR * x
"""

RUN = """
import json, sys

sys.path.insert(0, sys.argv[1])
import kernel_under_test as mod

value = mod.scaled(2.0)
stats = mod.scaled.stats
print(json.dumps({"value": value, "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _write(folder: Path, factor: float) -> Path:
    folder.mkdir(parents=True)
    path = folder / "kernel_under_test.py"
    path.write_text(KERNEL.replace("FACTOR", repr(factor)), encoding="utf-8")
    return path


def _run(path: Path, cache: Path, **extra: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["FRAILTRIAL_CACHE_DIR"] = str(cache)
    env.update(extra)
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(path.parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)


def test_second_checkout_loads_the_first_ones_compile(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _write(tmp_path / "checkout-a", 3.0)
    assert _run(first, cache) == {"value": 6.0, "hits": 0, "misses": 1}  # compiled
    second = tmp_path / "checkout-b" / first.name
    second.parent.mkdir()
    shutil.copyfile(first, second)  # same source, another path, a new modification time
    assert _run(second, cache) == {"value": 6.0, "hits": 1, "misses": 0}  # loaded
    digest = hashlib.sha256(first.read_bytes()).hexdigest()[:16]
    assert [p.name for p in (cache / "numba").iterdir()] == [f"kernel_under_test-{digest}"]
    assert not list(tmp_path.glob("checkout-*/**/*.nbi"))  # no numba cache beside the source


def test_changed_source_compiles_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _run(_write(tmp_path / "a", 3.0), cache)["misses"] == 1
    changed = _run(_write(tmp_path / "b", 5.0), cache)
    assert changed == {"value": 10.0, "hits": 0, "misses": 1}  # not the stale machine code
    assert len(list((cache / "numba").iterdir())) == 2


def test_unwritable_root_and_numba_cache_dir_fall_back_to_numba(tmp_path: Path) -> None:
    """A cache root that cannot be a directory: numba's own __pycache__, the kernel still
    runs; a user's NUMBA_CACHE_DIR: numba's layout there, nothing in our cache root."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file", encoding="utf-8")
    first = _write(tmp_path / "a", 3.0)
    assert _run(first, blocked)["value"] == 6.0
    assert list(first.parent.glob("__pycache__/*.nbi"))
    numba_dir = tmp_path / "numba-dir"
    ours = tmp_path / "ours"
    assert _run(_write(tmp_path / "b", 3.0), ours, NUMBA_CACHE_DIR=str(numba_dir))["value"] == 6.0
    assert list(numba_dir.rglob("*.nbi")) and not ours.exists()
