"""Analysis populations: who is analysed, in which arm.

ITT: every randomized participant flagged ``itt``, by assigned arm. Safety: participants
flagged ``safety`` (dosed), by the arm received (``arm_received`` when recorded). Per-protocol:
the dataset's ``per_protocol`` flag. Completers: ITT participants who attended the last
assessment visit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from frailtrial.dataset import TrialDataset
from frailtrial.protocol import Protocol

POPULATIONS = ("itt", "safety", "per_protocol", "completers")


@dataclass(frozen=True)
class Populations:
    """Membership of every randomized participant (index participant_id).

    Columns: ``arm`` (assigned), ``arm_received``, and one bool column per population.
    """

    members: pd.DataFrame

    def arms(self, population: str) -> pd.Series:
        """Arm of each participant in ``population`` (arm received for safety)."""
        m = self.members[self.members[population]]
        column = "arm_received" if population == "safety" else "arm"
        return m[column]

    def counts(self, arm_names: list[str]) -> dict[str, dict[str, int]]:
        """Population -> arm -> number of participants (and ``total``)."""
        out: dict[str, dict[str, int]] = {}
        for pop in POPULATIONS:
            arms = self.arms(pop)
            row = {a: int((arms == a).sum()) for a in arm_names}
            row["total"] = len(arms)
            out[pop] = row
        return out


def attended_last_visit(attendance: pd.DataFrame, protocol: Protocol) -> pd.Index:
    """Participants who attended the last assessment visit (from an attendance frame)."""
    last = protocol.assessment_visits[-1].name
    rows = attendance[(attendance["visit"] == last) & attendance["attended"]]
    return pd.Index(rows["participant_id"].unique())


def build_populations(ds: TrialDataset, protocol: Protocol, completers: pd.Index) -> Populations:
    """Membership table of the four populations; ``completers`` from visit attendance."""
    p = ds.participants.set_index("participant_id")
    received = p["arm"].copy()
    if "arm_received" in p.columns:
        received = p["arm_received"].where(p["arm_received"].notna(), p["arm"])
    members = pd.DataFrame(
        {
            "arm": p["arm"].astype(str),
            "arm_received": received.astype(str),
            "itt": p["itt"].astype(bool),
            "safety": p["safety"].astype(bool),
            "per_protocol": p["per_protocol"].astype(bool),
        },
        index=p.index,
    )
    members["completers"] = members["itt"] & members.index.isin(completers)
    return Populations(members)


def left_out(
    population: pd.Series,
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame | None,
    formula: str,
) -> pd.DataFrame:
    """Members of ``population`` (arm by participant_id) a model of ``formula`` cannot use,
    for every variable of ``m`` (the population's measurements): one row each with
    ``variable``, ``participant_id``, ``arm`` and ``reason``.

    A model of ``change ~ ...`` needs a baseline and a post-baseline value of the variable;
    any other model needs a value at an assessment visit; both need every covariate of the
    formula that participants.csv holds. The fitters drop such participants (no complete
    row), so the count here is the population less the model's ``n_subjects``.
    """
    from frailtrial.stats.formula_engine import parse_formula

    spec = parse_formula(formula)
    change = "change" in spec.lhs.required_variables
    used = spec.rhs.required_variables
    columns = [] if participants is None else list(participants.columns)
    covariates = sorted((c for c in columns if c in used and c != "arm"), key=formula.find)
    ids = pd.Index(population.index)
    names = [v.name for v in protocol.variables]
    visits = [v.name for v in protocol.visits]
    var = pd.Index(names).get_indexer(pd.Index(m["variable"]))
    pid = ids.get_indexer(pd.Index(m["participant_id"]))
    visit = pd.Index(visits).get_indexer(pd.Index(m["visit"]))
    ok = (var >= 0) & (pid >= 0) & (visit >= 0) & m["value"].notna().to_numpy()

    def seen(kinds: tuple[str, ...]) -> np.ndarray:
        """variable x participant: a value at a visit of one of ``kinds``."""
        at = np.isin(visit, [i for i, v in enumerate(protocol.visits) if v.kind in kinds])
        grid = np.zeros((len(names), len(ids)), dtype=bool)
        grid[var[ok & at], pid[ok & at]] = True
        return grid

    measured = np.zeros(len(names), dtype=bool)
    measured[var[var >= 0]] = True  # variables without any row have no model to leave out of
    if change:
        checks = [
            (seen(("baseline",)), "no baseline value"),
            (seen(("treatment", "follow_up")), "no post-baseline value"),
        ]
    else:
        checks = [(seen(("baseline", "treatment", "follow_up")), "no value")]
    reason = np.full((len(names), len(ids)), "", dtype=object)
    if covariates and participants is not None:
        by_id = participants.set_index("participant_id")
        for c in reversed(covariates):  # the first missing covariate is named
            gone = by_id[c].reindex(ids).isna().to_numpy()
            reason[:, gone] = f"missing covariate {c}"
    for has, word in reversed(checks):  # the first reason that applies is given
        for k, v in enumerate(protocol.variables):
            reason[k, ~has[k]] = f"{word} of {v.label}"
    rows, cols = np.nonzero((reason != "") & measured[:, None])
    return pd.DataFrame(
        {
            "variable": np.array(names, dtype=object)[rows],
            "participant_id": ids.to_numpy()[cols],
            "arm": population.to_numpy()[cols],
            "reason": reason[rows, cols],
        }
    )
