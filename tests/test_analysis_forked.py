"""The worker process of ``analyze`` (analysis/forked.py): the task runs in a forked child
and its answer (or exception) comes back; without fork it runs here; a child is never left
behind; and an analysis fitted by the worker equals one fitted in the command's process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from frailtrial.analysis.forked import ChildFailed, Worker, can_fork
from frailtrial.errors import InputError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

FRESH = os.environ.get("FRAILTRIAL_FORK_TESTS") == "1"
"""Set in the fresh interpreter that runs the worker's own tests (see the first test)."""
in_fresh_process = pytest.mark.skipif(
    not FRESH, reason="run in a fresh process by test_the_worker_tests_in_a_fresh_process"
)


def test_the_worker_tests_in_a_fresh_process() -> None:
    """A fork needs a process with one thread, and a test worker may hold threads an earlier
    test file left behind (a live server's, a database driver's): the worker's own tests
    run in a fresh interpreter, and this test fails when any of them fails."""
    if FRESH:
        pytest.skip("this is the fresh process")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:randomly", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-k", "not fitted_by_the_worker and not unknown_model"],
        env={**os.environ, "FRAILTRIAL_FORK_TESTS": "1"}, cwd=Path(__file__).parents[1],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\b10 passed", proc.stdout), proc.stdout[-2000:]


def _pid_and(x: int) -> tuple[int, int]:
    return os.getpid(), x * 2


def _refuse(what: str) -> None:
    raise InputError(f"refused: {what}")


class _Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickle calls cls(*args): one arg short
        super().__init__(f"{a}/{b}")


def _raise_unpicklable() -> None:
    raise _Unpicklable(1, 2)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(autouse=True)
def _forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAILTRIAL_NO_FORK", raising=False)
    if FRESH:
        assert can_fork(), "the fresh test process has other threads: nothing would fork"


@in_fresh_process
def test_the_task_runs_in_a_child_and_its_answer_comes_back() -> None:
    warmed = []
    with Worker(lambda: warmed.append(os.getpid())) as worker:
        pid, doubled = worker.submit(_pid_and, 21).result()
    assert doubled == 42
    assert pid != os.getpid()  # another process computed it
    assert warmed == []  # the warm-up ran there too, not here
    assert _gone(pid)  # and that process was reaped


@in_fresh_process
def test_an_exception_in_the_child_is_raised_here_with_its_type_and_message() -> None:
    with Worker(lambda: None) as worker:
        pending = worker.submit(_refuse, "primary endpoint without a model")
        with pytest.raises(InputError, match="refused: primary endpoint without a model"):
            pending.result()


@in_fresh_process
def test_an_exception_that_does_not_pickle_comes_back_as_its_traceback() -> None:
    with Worker(lambda: None) as worker:
        pending = worker.submit(_raise_unpicklable)
        with pytest.raises(ChildFailed, match=r"_Unpicklable: 1/2"):
            pending.result()


@in_fresh_process
def test_a_child_that_dies_is_reported_not_waited_for_forever() -> None:
    with Worker(lambda: None) as worker:
        pending = worker.submit(_die)
        with pytest.raises(ChildFailed, match="ended without an answer"):
            pending.result()


@in_fresh_process
def test_a_failing_warm_up_is_met_again_by_the_task() -> None:
    def broken() -> None:
        raise ImportError("no numba here")

    with Worker(broken) as worker:
        assert worker.submit(_pid_and, 1).result()[1] == 2  # the task itself still runs


@in_fresh_process
def test_a_child_whose_answer_is_not_needed_is_stopped_and_reaped() -> None:
    with pytest.raises(InputError), Worker(lambda: None) as worker:
        pid = worker._pid
        assert pid and not _gone(pid)
        raise InputError("the dataset failed its checks")  # before any task was sent
    assert _gone(pid)


@in_fresh_process
def test_with_another_thread_alive_the_task_runs_here() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        with Worker(lambda: None) as worker:
            pid, _ = worker.submit(_pid_and, 1).result()
        assert pid == os.getpid()
    finally:
        stop.set()
        thread.join()


@in_fresh_process
def test_frailtrial_no_fork_runs_the_task_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAILTRIAL_NO_FORK", "1")
    with Worker(lambda: None) as worker:
        assert worker.submit(_pid_and, 1).result()[0] == os.getpid()


@in_fresh_process
def test_a_task_run_beside_sees_this_process_memory_and_reports_failure(
    tmp_path: Path,
) -> None:
    notes = {"text": "written by the child"}  # not pickled: the child has a copy
    with Worker(lambda: (tmp_path / "a.txt").write_text(notes["text"]), False) as beside:
        assert beside.result() == len(notes["text"])
    assert (tmp_path / "a.txt").read_text() == "written by the child"
    with Worker(lambda: _refuse("beside"), False) as beside, pytest.raises(InputError):
        beside.result()


@in_fresh_process
def test_a_big_task_does_not_wait_for_the_child_to_read_it() -> None:
    """The task goes to the child through a file: 8 MB of arguments are handed over while
    the child still warms up (3 s), and the parent goes on (a pipe would block it)."""
    with Worker(lambda: time.sleep(3)) as worker:
        start = time.monotonic()
        pending = worker.submit(len, b"x" * 8_000_000)
        handed_over = time.monotonic() - start
        assert pending.result() == 8_000_000
    assert handed_over < 2.0


def _results(out: Path) -> dict:
    doc = json.loads((out / "results.json").read_text("utf-8"))
    doc["provenance"].pop("created_utc")
    return doc


@pytest.mark.slow  # four analyze processes (6-7 s each protocol): make test, not make quick
@pytest.mark.parametrize("protocol", ["cratus-2017", "huc-msc-2024"])
def test_analyze_fitted_by_the_worker_equals_fitted_in_the_command(
    tmp_path: Path, protocol: str
) -> None:
    """The same results.json (every number) and the same files with and without the worker
    process (HUC-MSC: its random-intercept model fitted by the command meanwhile, its MMRM
    and sensitivity analyses by the worker; CRATUS: three arms, a dose-response model); the
    CLI runs in fresh processes (one thread: it does fork)."""
    cli = [sys.executable, "-m", "frailtrial"]
    data = tmp_path / "data"
    subprocess.run([*cli, "simulate", "--protocol", protocol, "--seed", "4", "--out",
                    str(data)], check=True, capture_output=True, timeout=300)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "FRAILTRIAL_NO_FORK"}
    outs = {}
    for name, extra in (("worker", {}), ("here", {"FRAILTRIAL_NO_FORK": "1"})):
        outs[name] = tmp_path / name
        subprocess.run([*cli, "analyze", "--data", str(data), "--protocol", protocol,
                        "--out", str(outs[name])], check=True, capture_output=True,
                       timeout=300, env={**env, **extra})  # fmt: skip
    assert _results(outs["worker"]) == _results(outs["here"])
    files = {p.relative_to(outs["worker"]) for p in outs["worker"].rglob("*") if p.is_file()}
    assert files == {p.relative_to(outs["here"]) for p in outs["here"].rglob("*") if p.is_file()}
    for rel in files:
        if rel.suffix in {".csv", ".svg"}:
            assert (outs["worker"] / rel).read_bytes() == (outs["here"] / rel).read_bytes(), rel


def test_an_unknown_model_engine_is_refused() -> None:
    """fit_kind names the engines it knows instead of fitting nothing for a misspelt one."""
    from frailtrial.analysis.models import fit_kind
    from frailtrial.protocol import load

    with pytest.raises(ValueError, match="'mmrn': one of mmrm, random_intercept"):
        fit_kind(pd.DataFrame(), load("cratus-2017"), None, "mmrn")
