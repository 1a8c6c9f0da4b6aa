"""Modules entered as stand-ins that import the real module when first used.

Two libraries import large parts of scipy that the commands never use, at a cost felt on
every ``analyze`` (issue 14): formulaic imports ``scipy.sparse.linalg`` for one call made
only for sparse coding matrices, and numba, checking for BLAS when it loads the first
kernel, imports ``scipy.linalg.cython_blas``, whose package ``__init__`` imports all of
``scipy.linalg``. :func:`defer` enters a stand-in for such a module before the library
imports it: reading any attribute from the stand-in imports the real module (and rebinds
its parent's attribute to it), so a caller that needs the module gets it, only later. A
deferred package keeps its ``__path__``, so its compiled submodules (``cython_blas``)
import without its ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_LOCK = threading.Lock()


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    """The real module ``name``, imported now in place of its stand-in."""
    with _LOCK:
        if isinstance(sys.modules.get(name), _OnFirstUse):
            del sys.modules[name]
        return importlib.import_module(name)


def defer(name: str) -> None:
    """Enter a stand-in for the submodule ``name`` unless it is imported already."""
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name)
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    stand_in = _OnFirstUse(name)
    stand_in.__spec__ = spec
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stand_in
    setattr(parent, child, stand_in)
