"""formulaic, the formula engine of every design, imported without scipy's sparse solvers.

formulaic (1.x) imports ``scipy.sparse.linalg`` at the top of its contrasts module for a
single call, inverting a *sparse* coding matrix, which the dense designs built here never
ask for; that import also loads ``scipy.linalg``: 0.13-0.16 s of each process that builds a
design, on the critical path of both of ``analyze``'s processes (issue 14). It is deferred
(stats/deferred.py) before formulaic is imported. Every module of the package imports
formulaic's names from here.
"""

from __future__ import annotations

from frailtrial.stats.deferred import defer

defer("scipy.sparse.linalg")

from formulaic import Formula, model_matrix  # noqa: E402
from formulaic.model_spec import ModelSpec  # noqa: E402

__all__ = ["Formula", "ModelSpec", "model_matrix"]
