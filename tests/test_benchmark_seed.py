"""bench_edc_export.py seeds its store with SQL of its own (10,000 participants in seconds):
the seed broke silently twice as the EDC's tables gained NOT NULL columns (record versions,
AE causality) and the lock its pre-lock checklist. Run here on a small store so that
``make test`` catches the next change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_export_benchmark_seeds_locks_and_exports_a_small_store() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_edc_export.py"), "--n", "30"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "seeded 30 participants" in proc.stdout
    assert "frailtrial edc export --format csv:" in proc.stdout
