"""The names of the MMRM's options, in one place: covariance structures, estimation methods
and degrees-of-freedom methods.

The protocol model (``analysis.models``), the stats engine (``frailtrial.stats.mmrm``) and
the CLI (``frailtrial stats mmrm``) all read these, so a protocol accepts exactly what the
engine fits. One spelling each (snake_case, as protocols write them); :func:`df_method`
also takes the short SAS-like spellings (``kr``, ``kr-linear``, ``between-within``) at the
edges. Nothing heavy is imported here: the protocol model and the CLI load it at start-up.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

from frailtrial.errors import InputError

CovarianceName = Literal["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "adh"]
COVARIANCE_STRUCTURES: tuple[CovarianceName, ...] = get_args(CovarianceName)
"""Unstructured, compound symmetry (homogeneous, heterogeneous), first-order autoregressive
(homogeneous, heterogeneous), Toeplitz (homogeneous, heterogeneous), ante-dependence
(heterogeneous); the visit order is the order of the matrix."""

MethodName = Literal["reml", "ml"]
METHODS: tuple[MethodName, ...] = get_args(MethodName)

DfMethod = Literal[
    "satterthwaite", "kenward_roger", "kenward_roger_linear", "residual", "between_within"
]
DF_METHODS: tuple[DfMethod, ...] = get_args(DfMethod)
"""Satterthwaite; Kenward-Roger as SAS ``ddfm=kr`` and ``ddfm=kr(linear)``; residual
(N - rank X); SAS's between-within."""

DF_ALIASES: dict[str, DfMethod] = {
    "kr": "kenward_roger",
    "kr_linear": "kenward_roger_linear",
    "bw": "between_within",
}
"""Other spellings taken at the edges (after lower-casing and '-' to '_')."""


def df_method(name: str) -> DfMethod:
    """The canonical name of a df method (``kr`` -> ``kenward_roger``); InputError if unknown."""
    key = name.strip().lower().replace("-", "_")
    key = DF_ALIASES.get(key, key)
    if key not in DF_METHODS:
        raise InputError(
            f"unknown df method {name!r}; allowed: {', '.join(DF_METHODS)} "
            f"(or {', '.join(a.replace('_', '-') for a in DF_ALIASES)})"
        )
    return cast(DfMethod, key)


def covariance_structure(name: str) -> CovarianceName:
    """The covariance structure called ``name`` (any case); InputError if unknown."""
    key = name.strip().lower()
    if key not in COVARIANCE_STRUCTURES:
        raise InputError(
            f"unknown covariance {name!r}; allowed: {', '.join(COVARIANCE_STRUCTURES)}"
        )
    return cast(CovarianceName, key)


def estimation_method(name: str) -> MethodName:
    """``reml`` or ``ml`` (any case); InputError otherwise."""
    key = name.strip().lower()
    if key not in METHODS:
        raise InputError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    return cast(MethodName, key)


ContrastAdjust = Literal["none", "bonferroni", "holm", "hochberg", "tukey", "dunnett"]
CONTRAST_ADJUSTMENTS: tuple[ContrastAdjust, ...] = get_args(ContrastAdjust)
"""Multiplicity adjustments of named MMRM contrasts within a visit
(:mod:`frailtrial.stats.mmrm_contrasts`)."""
