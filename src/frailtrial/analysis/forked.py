"""A forked child process that prepares while this one reads, then runs one task: the
second core of ``analyze``.

Most of a small analysis is fixed cost: importing the model engines (numba, formulaic) and
loading their compiled kernels takes ~0.7 s before the first fit. ``analyze`` forks a
:class:`Worker` as it starts; the child pays that cost while the parent reads the dataset,
then fits the plan's models while the parent builds Tables 1-3 (cli/analyze.py,
pipeline.py).

The task and its arguments go to the child pickled in an unnamed temporary file opened
before the fork (any size, without blocking the parent; no name another process could
open); the result, or the exception the task raised, comes back pickled through a
pipe. A fork is only safe from a process with a single thread (another thread may hold a
lock the child would wait on forever), so the task runs in this process instead when
other threads are alive (a test runner's, a web server's), when the platform has no
``fork``, or when ``FRAILTRIAL_NO_FORK`` is set; the result is the same either way
(tests/test_analysis_forked.py).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")


class ChildFailed(RuntimeError):
    """The child process ended without a result, or its exception could not be sent back
    (then its traceback is the message)."""


def can_fork() -> bool:
    """Whether a :class:`Worker` runs its task in a child process."""
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and not os.environ.get("FRAILTRIAL_NO_FORK")
    )


class Pending(Generic[T]):
    """The result of a task: computed in the worker's child, or already here."""

    def __init__(self, worker: Worker | None, value: tuple[bool, object] | None) -> None:
        self._worker, self._value = worker, value

    def result(self) -> T:
        """The task's return value, or the exception it raised raised here."""
        if self._value is None:
            assert self._worker is not None
            self._value = self._worker.collect()
        ok, value = self._value
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]


class Worker:
    """A child forked now that runs ``warm`` at once (imports, kernel loads; its failure is
    ignored: the task meets it again), then the one task given to :meth:`submit`. With
    ``task_follows=False`` the child's task is ``warm`` itself, run on the memory it
    inherited (nothing pickled but the answer): :meth:`result` waits for it. Use it as a
    context manager: a child whose answer was not collected is stopped at exit."""

    def __init__(self, warm: Callable[[], object], task_follows: bool = True) -> None:
        self._pid = 0
        self._answer: tuple[bool, object] | None = None
        if not can_fork():
            if not task_follows:
                self._answer = _call(warm, ())
            return
        sys.stdout.flush()  # else the child would write the parent's buffered text again
        sys.stderr.flush()
        # closed by collect() or __exit__ (it outlives this call)
        self._task = tempfile.TemporaryFile(prefix="frailtrial-task-")  # noqa: SIM115
        go_read, self._go = os.pipe()
        self._results, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(self._go)
            os.close(self._results)
            _child(warm, task_follows, go_read, result_write, self._task)  # never returns
        os.close(go_read)
        os.close(result_write)
        self._pid = pid

    def submit(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """Run ``fn(*args)`` in the child (``fn`` and ``args`` must pickle: a module-level
        function and data), or here when there is no child."""
        if not self._pid:
            return Pending(None, _call(fn, args))
        pickle.dump((fn, args), self._task, protocol=pickle.HIGHEST_PROTOCOL)
        self._task.flush()
        with contextlib.suppress(BrokenPipeError):  # the child died: collect() says so
            os.write(self._go, b"1")
        os.close(self._go)
        self._go = -1
        return Pending(self, None)

    def result(self) -> object:
        """The answer of a worker made with ``task_follows=False``: ``warm``'s return value,
        or the exception it raised raised here."""
        return Pending[object](self if self._pid else None, self._answer).result()

    def collect(self) -> tuple[bool, object]:
        """Wait for the child's answer (ok, value or exception)."""
        with os.fdopen(self._results, "rb") as pipe:
            data = pipe.read()
        self._results = -1
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        self._task.close()
        if not data:
            return False, ChildFailed(f"the worker process ended without an answer ({status})")
        try:
            answer: tuple[bool, object] = pickle.loads(data)
        except Exception as exc:  # a result that pickles but cannot be rebuilt here
            return False, ChildFailed(f"the worker's answer could not be read: {exc!r}")
        return answer

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pid:  # the parent stopped before it needed the result
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            for fd in (self._go, self._results):
                if fd >= 0:  # not yet closed by submit() or collect()
                    os.close(fd)
            self._task.close()
            self._pid = 0


def _child(
    warm: Callable[[], object], task_follows: bool, go: int, results: int, task: IO[bytes]
) -> None:
    """The child's whole life: warm up, wait for the task, answer, leave without running
    the parent's exit handlers."""
    status = 1
    try:
        if not task_follows:
            with os.fdopen(results, "wb") as pipe:
                pipe.write(_dumps(_call(warm, ())))
        else:
            with contextlib.suppress(Exception):  # the task meets the same failure, reports it
                warm()
        if task_follows and os.read(go, 1) == b"1":  # empty: the parent left without a task
            task.seek(0)  # the file offset is shared with the parent, which wrote it
            fn, args = pickle.load(task)
            answer = _call(fn, args)
            with os.fdopen(results, "wb") as pipe:
                pipe.write(_dumps(answer))
        sys.stdout.flush()
        sys.stderr.flush()
        status = 0
    finally:
        os._exit(status)


def _call(fn: Callable[..., object], args: tuple[Any, ...]) -> tuple[bool, object]:
    try:
        return True, fn(*args)
    except Exception as exc:  # sent to the parent, raised there
        return False, exc


def _dumps(answer: tuple[bool, object]) -> bytes:
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        if not answer[0]:
            pickle.loads(data)  # an exception whose class cannot be rebuilt from its args
        return data
    except Exception:  # a result or exception that does not pickle: say what it was
        what = answer[1]
        text = (
            "".join(traceback.format_exception(what))
            if isinstance(what, BaseException)
            else repr(what)
        )
        return pickle.dumps((False, ChildFailed(text)), protocol=pickle.HIGHEST_PROTOCOL)
