"""Run the ``frailtrial`` command in this process (fast: no interpreter start-up per call)."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

from frailtrial.cli.main import run


def invoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``frailtrial ARGS`` through the console entry."""
    monkeypatch.setattr("sys.argv", ["frailtrial", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def completed(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``frailtrial ARGS`` with ``stdin`` piped in, as ``subprocess.run`` would return it
    (exit status, stdout, stderr), run in this process without any fixture."""
    saved = sys.argv, sys.stdin
    out, err = io.StringIO(), io.StringIO()
    code = 0
    sys.argv, sys.stdin = ["frailtrial", *args], io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin = saved
    return subprocess.CompletedProcess(["frailtrial", *args], code, out.getvalue(), err.getvalue())
