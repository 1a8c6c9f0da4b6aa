"""Table 1: baseline characteristics by arm, with a test and an SMD per row.

Continuous rows are mean ± SD or median (Q1, Q3): as the protocol says, or (``auto``) by
the plan's normality rule (Shapiro-Wilk in every arm at ``normality_alpha``). Binary and
categorical rows are n (%). Each active arm is compared with the control arm by the
plan's rules (t or Mann-Whitney; chi-square or Fisher); SMDs are active minus control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frailtrial.analysis.format import fmt, mean_sd, median_iqr, n_pct
from frailtrial.analysis.plan import Comparison, between, categorical
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import BaselineCharacteristic
from frailtrial.stats.effect_sizes import smd_binary, smd_continuous
from frailtrial.stats.selection import shapiro_wilk


@dataclass(frozen=True)
class Table1:
    """``rows``: one row per characteristic (and level); ``footnote`` states the rules."""

    rows: pd.DataFrame
    n: dict[str, int]
    footnote: str


def _normal(values: list[np.ndarray], alpha: float) -> bool:
    for v in values:
        if v.size < 3:
            return False
        try:
            if not shapiro_wilk(v, alpha).normal:
                return False
        except InputError:
            return False
    return True


def _smd_cont(a: np.ndarray, b: np.ndarray) -> float:
    try:
        return smd_continuous(a, b)
    except InputError:
        return math.nan


def _continuous(
    c: BaselineCharacteristic, by_arm: dict[str, np.ndarray], protocol: Protocol
) -> list[dict[str, object]]:
    plan = protocol.analysis
    summary = c.summary
    if summary in ("auto", "n_pct"):
        normal = _normal(list(by_arm.values()), plan.normality_alpha)
        summary = "mean_sd" if normal else "median_iqr"
    row: dict[str, object] = {"level": "", "summary": summary}
    for arm, v in by_arm.items():
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75]) if v.size else [math.nan] * 3
        sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
        mean = float(v.mean()) if v.size else math.nan
        row |= {
            f"{arm}_n": int(v.size),
            f"{arm}_mean": mean,
            f"{arm}_sd": sd,
            f"{arm}_median": float(med),
            f"{arm}_q1": float(q1),
            f"{arm}_q3": float(q3),
            arm: mean_sd(mean, sd, c.decimals)
            if summary == "mean_sd"
            else median_iqr(float(med), float(q1), float(q3), c.decimals),
        }
    control = protocol.control_arm.name
    for a in protocol.active_arms:
        cmp = between(by_arm[a.name], by_arm[control], plan)
        row |= _test_cols(a.name, cmp, _smd_cont(by_arm[a.name], by_arm[control]))
    return [row]


_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


def _as_bool(s: pd.Series, name: str) -> pd.Series:
    """A yes/no column of participants.csv (true/false, 1/0, yes/no; empty = missing)."""
    text = s.astype(str).str.strip().str.lower()
    missing = s.isna() | text.isin({"", "nan", "none", "<na>"})
    bad = ~(text.isin(_TRUE) | text.isin(_FALSE) | missing)
    if bad.any():
        line = bad.index[bad.to_numpy()][0]
        raise InputError(
            f"participants.csv line {line}, column {name}: {s[line]!r} is not yes/no "
            "(allowed: true, false, 1, 0, yes, no)"
        )
    return text.isin(_TRUE).astype("boolean").where(~missing)


def _test_cols(arm: str, cmp: Comparison, smd: float) -> dict[str, object]:
    return {f"test_{arm}": cmp.test, f"p_{arm}": cmp.p, f"smd_{arm}": smd}


def _categorical(
    c: BaselineCharacteristic, by_arm: dict[str, pd.Series], protocol: Protocol
) -> list[dict[str, object]]:
    plan = protocol.analysis
    if c.kind == "binary":
        levels: list[object] = [True]
        coded = {arm: _as_bool(s, c.name) for arm, s in by_arm.items()}
    else:
        present = sorted({str(x) for s in by_arm.values() for x in s.dropna()})
        levels = [*c.levels, *(x for x in present if x not in c.levels)]
        coded = {arm: s.astype(str).where(s.notna()) for arm, s in by_arm.items()}
    counts = {arm: np.array([int((s == lv).sum()) for lv in levels]) for arm, s in coded.items()}
    totals = {arm: int(s.notna().sum()) for arm, s in coded.items()}
    control = protocol.control_arm.name
    tests: dict[str, Comparison] = {}
    for a in protocol.active_arms:
        pair = [a.name, control]
        if c.kind == "binary":
            table = np.array([[counts[x][0], totals[x] - counts[x][0]] for x in pair])
        else:
            table = np.array([counts[x] for x in pair])
        tests[a.name] = categorical(table.astype(np.int64), plan)
    rows = []
    for i, lv in enumerate(levels):
        row: dict[str, object] = {
            "level": "" if c.kind == "binary" else str(lv),
            "summary": "n_pct",
        }
        for arm in by_arm:
            k, n = int(counts[arm][i]), totals[arm]
            pct = 100.0 * k / n if n else math.nan
            row |= {f"{arm}_n": n, f"{arm}_count": k, f"{arm}_pct": pct, arm: n_pct(k, pct)}
        for arm, cmp in tests.items():
            ka, na = int(counts[arm][i]), totals[arm]
            kc, nc = int(counts[control][i]), totals[control]
            smd = smd_binary(ka, na, kc, nc) if na and nc else math.nan
            first = i == 0
            row |= _test_cols(arm, cmp if first else Comparison("", math.nan, ""), smd)
        rows.append(row)
    return rows


NOT_COLLECTED = "not collected"


def _not_collected(col: pd.Series) -> bool:
    """Whether no participant has a value: the characteristic was not collected, which the
    table says in words (a count of 0 would read as "nobody has it")."""
    return bool((col.isna() | (col.astype(str).str.strip() == "")).all())


def _not_collected_row(arms: list[str], protocol: Protocol) -> dict[str, object]:
    row: dict[str, object] = {"level": "", "summary": "not_collected"}
    row |= {a: NOT_COLLECTED for a in arms} | {f"{a}_n": 0 for a in arms}
    for a in protocol.active_arms:
        row |= _test_cols(a.name, Comparison("", math.nan, ""), math.nan)
    return row


def table1(participants: pd.DataFrame, itt: pd.Series, protocol: Protocol) -> Table1:
    """Table 1 of the ITT population (``itt``: arm by participant_id)."""
    p = participants.assign(_line=participants.index).set_index("participant_id").loc[itt.index]
    arms = protocol.arm_names
    out: list[dict[str, object]] = []
    for c in protocol.baseline_characteristics:
        col = p[c.name]
        base = {
            "group": c.group or "",
            "characteristic": c.name,
            "label": c.label,
            "unit": c.unit or "",
        }
        if _not_collected(col):
            out.append(base | _not_collected_row(arms, protocol))
            continue
        if c.kind in ("continuous", "ordinal"):
            values = pd.to_numeric(col, errors="coerce")
            by_arm = {a: values[itt == a].dropna().to_numpy(float) for a in arms}
            rows = _continuous(c, by_arm, protocol)
        else:
            col = col.set_axis(p["_line"].to_numpy())
            rows = _categorical(c, {a: col[(itt == a).to_numpy()] for a in arms}, protocol)
        out.extend(base | r for r in rows)
    plan = protocol.analysis
    footnote = (
        "Continuous characteristics: mean ± SD, or median (Q1, Q3) where the protocol says so "
        f"or Shapiro-Wilk rejected normality (p ≤ {fmt(plan.normality_alpha)}) in an arm; "
        "quartiles as R's default (type 7); categorical: n (%). Tests vs "
        f"{protocol.control_arm.label}: t test, or Mann-Whitney U when Shapiro-Wilk rejects "
        "normality; chi-square, or Fisher's exact test when an expected count is below 5. "
        "SMD: standardized mean difference, active minus control."
    )
    n = {a: int((itt == a).sum()) for a in arms}
    return Table1(pd.DataFrame(out), n, footnote)
