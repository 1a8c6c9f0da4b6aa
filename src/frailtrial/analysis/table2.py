"""Table 2: adverse events by body system and term, by arm (safety population).

Per term and arm: participants with the event n (%), events, serious events,
treatment-emergent events (onset on or after the participant's first dose), treatment-
emergent serious events within the protocol's ``te_sae_window_days`` of the first dose, and
related events; Fisher's exact p per term (participants with vs without, each active arm
vs control). An "Any adverse event" row and a row per body system lead the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frailtrial.analysis.plan import fisher
from frailtrial.dataset import TrialDataset
from frailtrial.protocol import Protocol

ANY = "Any adverse event"


@dataclass(frozen=True)
class Table2:
    """``rows``: level (any / body_system / term), body_system, term, per-arm counts, p."""

    rows: pd.DataFrame
    n: dict[str, int]
    footnote: str


def ae_flags(ds: TrialDataset, safety: pd.Series, protocol: Protocol) -> pd.DataFrame:
    """The adverse events of the ``safety`` population with their ``arm`` (received),
    ``since`` (days from the participant's first dose to onset), and flags ``te``
    (treatment-emergent), ``te_sae``, ``serious`` and ``related``."""
    ae = ds.adverse_events[ds.adverse_events["participant_id"].isin(safety.index)].copy()
    ae["arm"] = ae["participant_id"].map(safety).to_numpy()
    first = ds.dosing.groupby("participant_id")["day"].min()
    start = ae["participant_id"].map(first).astype(float).to_numpy()
    onset = ae["onset_day"].astype(float).to_numpy()
    ae["since"] = onset - start
    ae["te"] = ~np.isnan(start) & (onset >= start)
    window = protocol.analysis.te_sae_window_days
    within = (onset - start) <= window if window is not None else np.ones(len(ae), bool)
    ae["te_sae"] = ae["te"].to_numpy() & ae["serious"].astype(bool).to_numpy() & within
    ae["serious"] = ae["serious"].astype(bool)
    ae["related"] = ae["related"].astype(bool)
    return ae


def table2(ds: TrialDataset, safety: pd.Series, protocol: Protocol) -> Table2:
    """Table 2 of the safety population (``safety``: arm received by participant_id)."""
    ae = ae_flags(ds, safety, protocol)
    arms = protocol.arm_names
    n = {a: int((safety == a).sum()) for a in arms}
    control = protocol.control_arm.name
    groups: list[tuple[str, str, str, pd.DataFrame]] = [("any", "", ANY, ae)]
    for system, sub in ae.groupby("body_system", sort=True):
        groups.append(("body_system", str(system), str(system), sub))
        for term, t in sub.groupby("term", sort=True):
            groups.append(("term", str(system), str(term), t))
    rows = []
    for level, system, term, sub in groups:
        row: dict[str, object] = {"level": level, "body_system": system, "term": term}
        people = sub.groupby("arm")["participant_id"].nunique()
        for a in arms:
            s = sub[sub["arm"] == a]
            k = int(people.get(a, 0))
            row |= {
                f"{a}_participants": k,
                f"{a}_pct": 100.0 * k / n[a] if n[a] else math.nan,
                f"{a}_events": len(s),
                f"{a}_serious": int(s["serious"].sum()),
                f"{a}_te": int(s["te"].sum()),
                f"{a}_te_sae": int(s["te_sae"].sum()),
                f"{a}_related": int(s["related"].sum()),
            }
        for a in arms:
            if a == control:
                continue
            ka, kc = int(people.get(a, 0)), int(people.get(control, 0))
            table = np.array([[ka, n[a] - ka], [kc, n[control] - kc]], dtype=np.int64)
            row[f"p_{a}"] = fisher(table).p
        rows.append(row)
    window = protocol.analysis.te_sae_window_days
    te_sae = f"within {window} days of" if window is not None else "after"
    footnote = (
        "Participants with the event n (%), events; serious, treatment-emergent (onset on or "
        f"after the first dose) and related events; TE-SAE: serious, with onset {te_sae} the "
        "first dose. p: Fisher's exact test on participants with vs without the event."
    )
    return Table2(pd.DataFrame(rows), n, footnote)
