"""Number formatting shared by the tables, the report and the manuscript tables.

A value that rounds to zero prints without a sign ("0.00", never "-0.00" or "-0").
"""

from __future__ import annotations

import math


def fixed(x: float, decimals: int = 2, sign: bool = False) -> str:
    """``x`` at ``decimals`` places (with "+" for positive values when ``sign``); a value
    that rounds to zero is "0.00", without a sign."""
    text = f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"
    return text.lstrip("+-") if float(text) == 0 else text


def fmt(x: float | None, decimals: int = 2) -> str:
    """A number at fixed decimals; '' for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return fixed(x, decimals) if isinstance(x, float) else str(x)


def signed(x: float, decimals: int = 2) -> str:
    """A difference at fixed decimals with its sign ("+1.20", "-0.35", "0.00")."""
    return fixed(x, decimals, sign=True)


def mean_sd(mean: float, sd: float, decimals: int = 2) -> str:
    if math.isnan(mean):
        return ""
    return f"{fixed(mean, decimals)} ± {fmt(sd, decimals) or '–'}"


def median_iqr(median: float, q1: float, q3: float, decimals: int = 0) -> str:
    if math.isnan(median):
        return ""
    return f"{fixed(median, decimals)} ({fixed(q1, decimals)}, {fixed(q3, decimals)})"


def n_pct(k: int, pct: float) -> str:
    return f"{k} ({fixed(pct, 2)})" if not math.isnan(pct) else f"{k}"


def pvalue(p: float) -> str:
    """Exact p at 3 significant decimals as journals print it; '<0.001' below."""
    if p is None or math.isnan(p):
        return ""
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def p_phrase(p: float, space: str = "") -> str:
    """'p=0.012' or 'p<0.001' (with ``space`` around the sign: 'p = 0.012'); '' for missing."""
    text = pvalue(p)
    if not text:
        return ""
    sign, number = ("<", text[1:]) if text.startswith("<") else ("=", text)
    return f"p{space}{sign}{space}{number}"
