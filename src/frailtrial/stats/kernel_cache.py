"""Where numba caches the compiled MMRM kernels: per user, keyed by the kernels' source hash.

numba's default cache sits in ``__pycache__`` beside the source, so a fresh clone, a second
checkout or a reinstall compiles the kernels again (30-100 s). A module registered here is
cached in ``<cache root>/numba/<module>-<first 16 hex of the SHA-256 of its source>`` instead:
any copy of the same source on this machine loads what another compiled, and a changed
source gets a new directory (old ones can be deleted freely). numba still checks, before
loading, its own version, the CPU and each function's bytecode.

The cache root is :func:`frailtrial.user_cache.cache_root` (``FRAILTRIAL_CACHE_DIR``, else
``$XDG_CACHE_HOME/frailtrial``, else ``~/.cache/frailtrial``). A user's ``NUMBA_CACHE_DIR``
takes precedence (numba's own layout); an unwritable root falls back to numba's
``__pycache__``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from numba import config
from numba.core import caching

from frailtrial.user_cache import cache_root

_SOURCES: dict[str, tuple[str, str]] = {}  # real path of a module -> (cache dir, source hash)


class SourceHashLocator(caching._CacheLocator):
    """numba cache locator for the registered modules: directory named by the source hash."""

    def __init__(self, py_func: Any, cache_path: str, stamp: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path
        self._stamp = stamp

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return self._stamp

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> SourceHashLocator | None:
        entry = _SOURCES.get(os.path.realpath(py_file))
        if entry is None or getattr(config, "CACHE_DIR", None):
            return None  # not ours, or the user chose NUMBA_CACHE_DIR: numba's locators
        locator = cls(py_func, *entry)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None  # unwritable cache root: numba's __pycache__ beside the source
        return locator


def use_user_cache(source: str) -> None:
    """Cache the ``cache=True`` kernels of the module at ``source`` in the per-user cache;
    call it at the top of the module, before its ``@njit`` decorators."""
    root = cache_root()
    if not root.is_absolute():  # no home directory known: numba's __pycache__
        return
    path = os.path.realpath(source)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    _SOURCES[path] = (str(root / "numba" / f"{Path(path).stem}-{digest[:16]}"), digest)
    locators: list[Any] = caching.CacheImpl._locator_classes
    if SourceHashLocator not in locators:
        locators.insert(0, SourceHashLocator)
