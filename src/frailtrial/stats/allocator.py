"""glibc's allocator told to keep freed memory between the large temporary arrays of a
batch of fits, instead of handing it back to the system and faulting it in again.

By default glibc serves an allocation above its mmap threshold (128 KB at the start,
raised by each larger mapped block freed, up to 32 MB) with a fresh mapping, and gives
free memory at the top of its heap back to the system above its trim threshold (twice
the mmap threshold). Laying out a long frame of 2,000 trials (360,000 rows) makes and
frees some fifty arrays of 0.5-20 MB; depending on the allocator's history each fresh
one is touched page by page: 10,000-18,000 minor page faults and 20-40 ms of system time
in a ``fit_many`` call that otherwise takes ~190 ms, varying from call to call. With the
two thresholds fixed where glibc's own rule ends (mmap 32 MB, trim 64 MB) the same call
has ~20 faults. The setting is process-wide and set once; the cost is that up to 64 MB
of freed memory per allocator arena stays with the process. A user's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (glibc's environment tunables)
are left as they are, and other C libraries are not touched.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit systems)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's dynamic rule pairs with it
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system knows
        return False


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (once per process); whether they were set:
    False on another C library, or where the user set glibc's own tunables."""
    if not _glibc() or any(name in os.environ for name in USER_SETTINGS):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
