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
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

# submodules that import without their package's __init__ (numba's BLAS and LAPACK tables);
# any other submodule of a deferred package is imported after the real package
ALONE = frozenset({"scipy.linalg.cython_blas", "scipy.linalg.cython_lapack"})
_POP = threading.Lock()


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until an attribute it lacks is read, or one is set or
    deleted (so that ``mock.patch`` patches the real module). It has the real module's
    ``__spec__``, ``__file__``, ``__loader__``, ``__package__`` and, for a package,
    ``__path__``, so that scanning ``sys.modules`` does not load it."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self.__name__), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr.startswith("__") or _is_child(self, attr, value):
            super().__setattr__(attr, value)  # its own attributes; a submodule imported
        else:  # under it (see ALONE)
            setattr(_load(self.__name__), attr, value)

    def __delattr__(self, attr: str) -> None:
        if attr in vars(self):
            super().__delattr__(attr)
        else:
            delattr(_load(self.__name__), attr)

    def __dir__(self) -> list[str]:
        return dir(_load(self.__name__))


def _is_child(stand_in: types.ModuleType, attr: str, value: Any) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__ == f"{stand_in.__name__}.{attr}"


def _load(name: str) -> types.ModuleType:
    """The real module ``name``, imported now in place of its stand-in, with the submodules
    imported under the stand-in attached to it. Only the check and removal of the stand-in
    are locked (a second thread must not remove the module the first is importing); the
    import itself is serialised by the import system's per-module lock, and the import of
    one deferred module may read another (scipy.sparse.linalg reads scipy.linalg)."""
    with _POP:
        stand_in = sys.modules.get(name)
        if isinstance(stand_in, _OnFirstUse):
            del sys.modules[name]
    module = importlib.import_module(name)
    if isinstance(stand_in, _OnFirstUse):
        for attr, value in list(vars(stand_in).items()):
            if _is_child(stand_in, attr, value) and attr not in vars(module):
                setattr(module, attr, value)
    return module


class _Existing(importlib.abc.Loader):
    """Hands the import system a module its package's ``__init__`` has just imported, so
    that it is not executed a second time. The import system takes an imported module's
    own ``__spec__`` (and would run its loader again): the module carries this loader's
    spec until the import system hands the module to :meth:`exec_module`, which gives it
    its own back."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module, self.spec = module, module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec


class _PackageFirst(importlib.abc.MetaPathFinder):
    """Before a submodule of a deferred package is imported (but for those in ``ALONE``),
    the real package is: a submodule runs on its package's ``__init__``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent = fullname.rpartition(".")[0]
        if fullname in ALONE or not isinstance(sys.modules.get(parent), _OnFirstUse):
            return None
        _load(parent)
        module = sys.modules.get(fullname)
        if module is None:
            return None  # the usual finders find it, in the real package
        spec = importlib.util.spec_from_loader(fullname, _Existing(module))
        module.__spec__ = spec
        return spec


_FINDER = _PackageFirst()


def defer(name: str) -> None:
    """Enter a stand-in for the submodule ``name`` unless it is imported already."""
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name)
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
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
