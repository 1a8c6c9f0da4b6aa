"""Modules entered as stand-ins that import the real module when first used.

Libraries import parts of scipy and numpy that the commands never use, at a cost felt on
every ``analyze`` (issue 14): formulaic imports ``scipy.sparse.linalg`` for one call made
only for sparse coding matrices (stats/formula_engine.py); numba, checking for BLAS when it
loads the first kernel, imports ``scipy.linalg.cython_blas``, whose package ``__init__``
imports all of ``scipy.linalg`` (stats/mmrm_kernels.py); scipy.special copies every
attribute of numpy, importing ``numpy.f2py`` and ``numpy.testing``
(stats/special_functions.py). :func:`defer` enters a stand-in for such a module before the
library imports it. Reading anything but its module attributes (``__file__``,
``__path__``, ...) imports the real module and rebinds its parent's attribute to it, so a
caller that needs the module gets it, only later. A deferred package keeps its
``__path__``, so its compiled submodules (``cython_blas``) import without its ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until an attribute it lacks is read (it has the real
    module's ``__spec__``, ``__file__``, ``__loader__``, ``__package__`` and, for a package,
    ``__path__``, so that scanning ``sys.modules`` does not load it)."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    """The real module ``name``, imported now in place of its stand-in. No lock of its own:
    the import system's per-module lock makes a second thread wait for the first one's
    import, and the import of one deferred module may read another (scipy.sparse.linalg
    reads scipy.linalg) in the same thread."""
    if isinstance(sys.modules.get(name), _OnFirstUse):
        sys.modules.pop(name, None)
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
    stand_in.__loader__ = spec.loader
    stand_in.__file__ = spec.origin
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
        stand_in.__package__ = name
    else:
        stand_in.__package__ = parent_name
    sys.modules[name] = stand_in
    setattr(parent, child, stand_in)
