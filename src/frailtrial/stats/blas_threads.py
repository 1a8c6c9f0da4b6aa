"""BLAS limited to one thread while batches of small matrices run in threads of their own
(fit_many's chunks, the sensitivity analyses' samples), which BLAS threads would only
compete with.

threadpoolctl finds the loaded BLAS libraries by scanning the process' shared objects
(~2 ms a call): they are found once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> Any:
    """Context manager: BLAS runs one thread inside it."""
    return _controller().limit(limits=1, user_api="blas")
