"""stats.blas_threads: one BLAS thread inside the context, the previous count after it,
the libraries found once per process."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from frailtrial.stats import blas_threads


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_inside_and_the_previous_count_after() -> None:
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # numpy's BLAS is loaded
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and all(n == min(2, n) for n in before)
        with blas_threads.one_blas_thread():
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == before


def test_the_libraries_are_found_once() -> None:
    assert blas_threads._controller() is blas_threads._controller()
