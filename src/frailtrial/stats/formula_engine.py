"""formulaic, the formula engine of every design, imported without scipy's sparse solvers.

formulaic (1.x) imports ``scipy.sparse.linalg`` at the top of its contrasts module for a
single call, inverting a *sparse* coding matrix, which the dense designs built here never
ask for; that import also loads ``scipy.linalg``: 0.13-0.16 s of each process that builds a
design, on the critical path of both of ``analyze``'s processes (issue 14). It is deferred
(stats/deferred.py) before formulaic is imported. Every module of the package imports
formulaic's names from here.

A formula is parsed once per process (:func:`parse_formula`): the sensitivity analyses of
one ``analyze`` read the same two formulas dozens of times (0.5 ms a parse).
"""

from __future__ import annotations

from functools import lru_cache

from frailtrial.stats.deferred import defer

defer("scipy.sparse.linalg")

from formulaic import Formula, model_matrix  # noqa: E402
from formulaic.model_spec import ModelSpec  # noqa: E402

__all__ = ["Formula", "ModelSpec", "model_matrix", "parse_formula"]


@lru_cache(maxsize=256)
def parse_formula(formula: str) -> Formula:
    """formulaic's parse of ``formula``, memoised (callers only read it; a formula that
    does not parse raises each time)."""
    return Formula(formula)
