"""Table 3: each outcome by arm x visit — n, mean ± SD, vs baseline and vs control.

Within an arm, each post-baseline visit is compared with baseline on the participants with
both values (paired t or Wilcoxon signed-rank by the plan's normality rule); the plan's
multiplicity adjustment runs over the post-baseline visits of that arm and variable
(``p_vs_baseline_adj``; a plan with Dunnett, which needs a joint distribution these tests do
not have, takes Bonferroni here). Between arms, each active arm is compared with the control arm at
every visit (t or Mann-Whitney). Markers follow the protocol's thresholds on the unadjusted
p-values — in the HUC-MSC paper those thresholds (0.01, 0.002) are already the
Bonferroni-divided 0.05 and 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from frailtrial.analysis.plan import adjust, between, marker, p_method, within
from frailtrial.protocol import Protocol

TABLE3_COLUMNS = ["variable", "arm", "visit", "n", "mean", "sd", "p_vs_baseline", "p_vs_control"]


@dataclass(frozen=True)
class Table3:
    """``cells``: one row per variable x arm x visit (TABLE3_COLUMNS first, then details)."""

    cells: pd.DataFrame
    footnote: str

    def csv_frame(self) -> pd.DataFrame:
        """The contract columns of tables/table3.csv, exactly."""
        return self.cells[TABLE3_COLUMNS]


def itt_measurements(measurements: pd.DataFrame, arms: pd.Series) -> pd.DataFrame:
    """Measurements of the population ``arms`` (arm by participant_id) with their arm."""
    m = measurements[measurements["participant_id"].isin(arms.index)]
    m = m.dropna(subset=["value"])
    return m.assign(arm=m["participant_id"].map(arms).to_numpy())


def baseline_of(m: pd.DataFrame, protocol: Protocol) -> npt.NDArray[np.float64]:
    """The baseline value of each row's participant and variable (NaN without one)."""
    base = m[m["visit"] == protocol.baseline_visit.name]
    by_key = base.set_index(["participant_id", "variable"])["value"]
    key = pd.MultiIndex.from_arrays([m["participant_id"], m["variable"]])
    return by_key.reindex(key).to_numpy(float)


def _ordered(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    order = {
        "variable": [v.name for v in protocol.variables],
        "arm": protocol.arm_names,
        "visit": [v.name for v in protocol.assessment_visits],
    }
    keys = [pd.Categorical(frame[k], order[k], ordered=True).codes for k in order]
    idx = np.lexsort(keys[::-1])
    return frame.iloc[idx].reset_index(drop=True)


def descriptives(m: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """n, mean, SD, SE by variable x arm x visit, and the same for change from baseline."""
    g = m.groupby(["variable", "arm", "visit"], sort=False)["value"]
    d = g.agg(n="count", mean="mean", sd="std").reset_index()
    change = m.assign(change=m["value"].to_numpy() - baseline_of(m, protocol))
    c = (
        change.dropna(subset=["change"])
        .groupby(["variable", "arm", "visit"], sort=False)["change"]
        .agg(n_change="count", mean_change="mean", sd_change="std")
        .reset_index()
    )
    d = d.merge(c, on=["variable", "arm", "visit"], how="left")
    d["se"] = d["sd"] / np.sqrt(d["n"])
    d["se_change"] = d["sd_change"] / np.sqrt(d["n_change"])
    return _ordered(d, protocol)


def table3(m: pd.DataFrame, protocol: Protocol) -> Table3:
    """Table 3 of the measurements ``m`` (from :func:`itt_measurements`)."""
    plan = protocol.analysis
    d = descriptives(m, protocol)
    base_name = protocol.baseline_visit.name
    control = protocol.control_arm.name
    later = [v.name for v in protocol.follow_up_visits]
    wide = m.pivot_table(
        index=["variable", "participant_id"], columns="visit", values="value", aggfunc="first"
    )
    arm_of = m.drop_duplicates("participant_id").set_index("participant_id")["arm"]
    keyed: dict[tuple[str, str, str], dict[str, object]] = {}
    for var in d["variable"].unique():
        if var not in wide.index.get_level_values(0):
            continue
        w = wide.loc[var].reindex(columns=[base_name, *later])
        arms_w = arm_of.reindex(w.index)
        for arm in protocol.arm_names:
            wa = w[(arms_w == arm).to_numpy()]
            results = [
                within(wa[base_name].to_numpy(float), wa[v].to_numpy(float), plan) for v in later
            ]
            padj = adjust(np.array([r.p for r in results]), plan)
            for v, r, pa in zip(later, results, padj, strict=True):
                keyed[(var, arm, v)] = {
                    "test_vs_baseline": r.test,
                    "p_vs_baseline": r.p,
                    "p_vs_baseline_adj": pa,
                    "reason_vs_baseline": r.reason,
                    "diff_vs_baseline": r.estimate,
                }
            if arm == control:
                continue
            wc = w[(arms_w == control).to_numpy()]
            for v in [base_name, *later]:
                r = between(wa[v].to_numpy(float), wc[v].to_numpy(float), plan)
                keyed.setdefault((var, arm, v), {}).update(
                    {
                        "test_vs_control": r.test,
                        "p_vs_control": r.p,
                        "reason_vs_control": r.reason,
                        "diff_vs_control": r.estimate,
                    }
                )
    extra = pd.DataFrame(
        [{"variable": k[0], "arm": k[1], "visit": k[2], **v} for k, v in keyed.items()]
    )
    cells = d.merge(extra, on=["variable", "arm", "visit"], how="left") if len(extra) else d
    for c in ("p_vs_baseline", "p_vs_control", "p_vs_baseline_adj"):
        if c not in cells:
            cells[c] = np.nan
        cells[c] = cells[c].astype(float)
    cells["marker_vs_baseline"] = [
        marker(p, plan.markers_vs_baseline) for p in cells["p_vs_baseline"]
    ]
    cells["marker_vs_control"] = [marker(p, plan.markers_vs_control) for p in cells["p_vs_control"]]
    rest = [c for c in cells.columns if c not in TABLE3_COLUMNS]
    cells = cells[TABLE3_COLUMNS + rest]
    footnote = _footnote(protocol)
    return Table3(cells, footnote)


def _footnote(protocol: Protocol) -> str:
    """What the cells hold, the markers the plan defines (none when it defines none), the
    tests and the multiplicity adjustment."""
    plan = protocol.analysis
    marks = [f"{m} p ≤ {t:g} vs baseline" for m, t in plan.markers_vs_baseline.items()]
    marks += [
        f"{m} p ≤ {t:g} vs {protocol.control_arm.label}" for m, t in plan.markers_vs_control.items()
    ]
    k = len(protocol.follow_up_visits)
    method = p_method(plan)
    adj = (
        f"{method.capitalize()} adjustment over the {k} post-baseline visits "
        f"(adjusted p in the detail table; significance at {plan.within_group_alpha:g} "
        "unadjusted)."
        if method is not None
        else "No multiplicity adjustment."
    )
    sentences = [
        "Mean ± SD.",
        "; ".join(marks) + "." if marks else "",
        "Within arm: paired t test, or Wilcoxon signed-rank when Shapiro-Wilk rejects "
        "normality of the differences; between arms: t test or Mann-Whitney U by the same "
        "rule.",
        adj,
    ]
    return " ".join(s for s in sentences if s)
