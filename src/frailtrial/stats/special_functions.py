"""scipy.special, imported without numpy's f2py and testing.

scipy.special's array-API layer copies every attribute of numpy, which imports numpy's
lazily loaded submodules, f2py and testing among them: 0.05-0.06 s of every command that
computes a p-value (issue 14), for modules nothing here uses. They are deferred
(stats/deferred.py) before scipy.special is imported; every module of the package imports
``special`` from here.
"""

from __future__ import annotations

from frailtrial.stats.deferred import defer

for _unused in ("numpy.f2py", "numpy.testing"):
    defer(_unused)

from scipy import special  # noqa: E402

__all__ = ["special"]
