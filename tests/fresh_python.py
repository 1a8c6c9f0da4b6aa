"""Code run by a fresh interpreter: for what a test process has already done (its imports,
its collector, its threads) and must not be the subject of the test."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """``code`` run by ``python -c`` in a new process; stdout and stderr captured."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def output_lines(code: str, timeout: int = 60) -> list[str]:
    """The lines ``code`` printed in a new process, which must succeed (its stderr is the
    assertion's message when it does not)."""
    proc = run_python(code, timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()
