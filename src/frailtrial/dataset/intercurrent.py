"""intercurrent_events.csv rows from what producers record, written one way by all of them.

A withdrawal is recorded in visits.csv: the visits not held after it have status
``withdrawn``. Its row names the first of them (the first visit the event affects, as rbmi's
``data_ice`` does) and the strategy the protocol's estimands declare for withdrawals.
"""

from __future__ import annotations

import pandas as pd

from frailtrial.dataset.schema import INTERCURRENT_EVENTS
from frailtrial.protocol import Protocol

DEFAULT_STRATEGY = "MAR"
"""The strategy of an event no estimand declares: missing at random, what the MMRM assumes."""


def declared_strategy(protocol: Protocol, event: str) -> str:
    """The strategy the plan declares for ``event``: that of the primary endpoint's
    estimand, else of the first estimand naming the event, else MAR."""
    primary = protocol.primary_endpoint.name
    estimands = sorted(protocol.analysis.estimands, key=lambda e: e.endpoint != primary)
    declared = (e.strategy_of(event) for e in estimands)
    return next((s for s in declared if s is not None), DEFAULT_STRATEGY)


def _first_rows(rows: pd.DataFrame, event: str, protocol: Protocol) -> pd.DataFrame:
    """One ``event`` row per participant of ``rows`` (participant_id, visit): the first
    of its visits in the protocol's order, with the strategy the plan declares."""
    order = pd.Index([v.name for v in protocol.visits])
    at = order.get_indexer(pd.Index(rows["visit"].astype(str)))
    first = (
        rows.assign(_at=at)
        .sort_values(["participant_id", "_at"], kind="stable")
        .drop_duplicates("participant_id")
    )
    return pd.DataFrame(
        {
            "participant_id": first["participant_id"].astype(str).to_numpy(),
            "visit": first["visit"].astype(str).to_numpy(),
            "event": event,
            "strategy": declared_strategy(protocol, event),
        },
        columns=[c.name for c in INTERCURRENT_EVENTS.columns],
    )


def withdrawals(visits: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One ``withdrawal`` row per participant with a visit of status withdrawn in
    ``visits`` (visits.csv columns): its first such visit in the protocol's order."""
    gone = visits[visits["status"].astype(str) == "withdrawn"]
    return _first_rows(gone, "withdrawal", protocol)


def discontinuations(
    stops: pd.DataFrame, visits: pd.DataFrame, dates: pd.Series, protocol: Protocol
) -> pd.DataFrame:
    """One ``treatment_discontinuation`` row per participant in ``stops`` (participant_id,
    ``on``: the date study treatment stopped): the first visit after that date, by ``dates``
    (the date of each row of ``visits``: held, else planned). A participant with no visit
    after the stop has no data the event affects and no row."""
    later = visits.assign(_on=pd.to_datetime(dates)).merge(
        stops.assign(_stop=pd.to_datetime(stops["on"]))[["participant_id", "_stop"]],
        on="participant_id",
    )
    return _first_rows(later[later["_on"] > later["_stop"]], "treatment_discontinuation", protocol)
