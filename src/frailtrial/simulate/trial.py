"""A virtual trial from a protocol: randomization, baseline, visits, dosing, outcomes, AEs.

:func:`simulate_trial` returns the tidy trial dataset. Everything is drawn from one seed, so
the same seed gives the same data set (and byte-identical files). The allocation is the
protocol's scheme run by the randomization code the EDC uses (:mod:`.allocation`): the list
the same seed generates (``frailtrial randomization generate --seed S --weak-seed --n N``
prints the same arms), taken stratum by stratum when stratified, or minimization.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from frailtrial.dataset import TrialDataset, validate_dataset
from frailtrial.dataset.intercurrent import withdrawals
from frailtrial.dataset.populations import population_flags, scheduled_doses
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.simulate.allocation import allocate
from frailtrial.simulate.attendance import Attendance, draw_attendance
from frailtrial.simulate.baseline import draw_baseline
from frailtrial.simulate.calibration import (
    Calibration,
    load_calibration,
    resolve_calibration,
)
from frailtrial.simulate.default_calibration import derived_calibration
from frailtrial.simulate.outcomes_published import draw_measurements
from frailtrial.simulate.safety import draw_adverse_events
from frailtrial.simulate.screening import draw_screening

_STREAM_TAG = 0x5117  # separates the simulator's streams from the randomization list's


def _dates(start: dt.date, offsets: np.ndarray) -> np.ndarray:
    return np.datetime64(start, "D") + offsets.astype("timedelta64[D]")


def _dosing(
    protocol: Protocol,
    cal: Calibration,
    ids: np.ndarray,
    arms: np.ndarray,
    weight: np.ndarray,
    randomized_on: np.ndarray,
    att: Attendance,
) -> pd.DataFrame:
    """Infusions: on the protocol's days (at the visit of that day when attended), before any
    withdrawal; cells from the dose rule and the baseline weight; lots in infusion order."""
    by_day = {v.day: t for t, v in enumerate(protocol.assessment_visits) if v.kind != "baseline"}
    parts = []
    for arm in protocol.arms:
        idx = np.flatnonzero(arms == arm.name)
        d = arm.dose
        for k, day in enumerate(d.infusion_days, start=1):
            t = by_day.get(day)
            actual = np.full(len(idx), day, dtype=np.int64)
            if t is not None:
                seen = att.status[idx, t] == "attended"
                actual[seen] = att.day[idx[seen], t]
            given = (att.withdrawal_day[idx] < 0) | (att.withdrawal_day[idx] > actual)
            who = idx[given]
            if d.kind == "per_kg":
                per_kg = np.full(len(who), float(d.cells_per_kg or 0.0))
                cells = np.round(per_kg * weight[who], -4)
            elif d.kind == "fixed":
                cells = np.full(len(who), float(d.cells or 0.0))
                per_kg = np.round(cells / weight[who], 0)
            else:
                cells = per_kg = np.zeros(len(who))
            parts.append(
                pd.DataFrame(
                    {
                        "participant_id": ids[who],
                        "dose_number": k,
                        "day": actual[given],
                        "cells": cells,
                        "cells_per_kg": per_kg,
                        "arm": arm.name,
                        "date": randomized_on[who] + (actual[given] - 1).astype("timedelta64[D]"),
                    }
                )
            )
    dosing = pd.concat(parts, ignore_index=True)
    dosing = dosing.sort_values(["date", "participant_id", "dose_number"], kind="stable")
    prefix = dosing["arm"].map(cal.file.dosing.lot_prefix)
    per_lot = dosing["arm"].map(cal.file.dosing.infusions_per_lot)
    order = dosing.groupby(prefix, sort=False).cumcount()
    dosing["lot"] = prefix + (order // per_lot + 1).map(lambda i: f"{i:03d}")
    dosing = dosing.sort_values(["participant_id", "dose_number"], kind="stable")
    return dosing.drop(columns=["arm", "date"]).reset_index(drop=True)


def simulate_trial(
    protocol: Protocol,
    seed: int,
    n_per_arm: int | None = None,
    match_published: bool = False,
    calibration: str | Path | None = None,
) -> TrialDataset:
    """Simulate one trial of ``protocol``; returns a validated tidy dataset.

    ``n_per_arm`` defaults to the protocol's target (15 per arm for huc-msc-2024); the
    allocation follows the seed's randomization list (per stratum when stratified) or
    minimization, so group sizes are those the scheme gives, not exactly ``n_per_arm``.
    ``match_published`` reproduces the published Table 1 and Table 3 means and SDs to the
    printed decimals, the published attendance, withdrawal and adverse-event counts (the
    published trial's size only).
    ``calibration`` is a calibration YAML file (default: the protocol's built-in one, else
    :func:`~frailtrial.simulate.default_calibration.default_calibration`: derived from the
    protocol, no treatment effect).
    """
    if seed < 0:
        raise InputError(f"--seed {seed}: must be a non-negative integer")
    if n_per_arm is not None and n_per_arm < 1:
        raise InputError(f"--n-per-arm {n_per_arm}: must be a positive integer")
    derived = derived_calibration(protocol, calibration)
    if derived is not None:
        cal = resolve_calibration(protocol, derived, "derived")
    else:
        cal = load_calibration(protocol, calibration)
    n_total = (
        protocol.enrollment.target_randomized
        if n_per_arm is None
        else n_per_arm * len(protocol.arms)
    )
    if match_published:
        pub = cal.published
        if pub is None:
            raise InputError(f"--match-published: {protocol.name} has no published tables to match")
        if protocol.randomization.strata or protocol.randomization.scheme == "minimization":
            raise InputError(
                f"--match-published sets Table 1 per arm, but {protocol.name} allocates by "
                "the participants' characteristics (strata or minimization); leave it out"
            )
        published_total = sum(pub.n_randomized.values())
        if n_total != published_total:
            raise InputError(
                f"--match-published reproduces the published trial of {published_total} "
                f"participants; leave out --n-per-arm (got {n_per_arm})"
            )
    streams = [
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, _STREAM_TAG]).spawn(7)
    ]
    alloc = allocate(protocol, cal, seed, n_total, streams[6])
    arms = alloc.arms
    if match_published:
        counts = pd.Series(arms).value_counts()
        for arm, n in cal.published.n_randomized.items():  # type: ignore[union-attr]
            if counts.get(arm, 0) != n:
                raise InputError(
                    f"--match-published: the list for seed {seed} gives {counts.get(arm, 0)} "
                    f"in {arm}, the paper {n}"
                )
    width = max(3, len(str(n_total)))
    ids = np.array([f"P{i:0{width}d}" for i in range(1, n_total + 1)], dtype=object)
    start = dt.date.fromisoformat(cal.file.start_date)
    offsets = np.sort(streams[0].integers(0, cal.file.recruitment_days, size=n_total))
    offsets[0] = 0
    randomized_on = _dates(start, offsets)

    base = draw_baseline(cal, arms, streams[1], match_published, alloc.given)
    att = draw_attendance(protocol, cal, arms, streams[2], match_published)
    measurements = draw_measurements(
        protocol, cal, ids, arms, base["sex"].to_numpy(), att, streams[3], match_published
    )
    last_day = np.where(
        att.withdrawal_day >= 0, att.withdrawal_day - 1, protocol.analysis.ae_collection_days
    )
    adverse = draw_adverse_events(cal, ids, arms, last_day, streams[4], match_published)
    dosing = _dosing(protocol, cal, ids, arms, base["weight_kg"].to_numpy(), randomized_on, att)
    screening = draw_screening(protocol, cal, ids, randomized_on, start, streams[5])

    n_doses = dosing.groupby("participant_id").size().reindex(ids, fill_value=0).to_numpy()
    attended = att.status == "attended"
    withdrawn = att.withdrawal_day >= 0
    withdrawn_on = np.where(
        withdrawn,
        randomized_on + (np.maximum(att.withdrawal_day, 1) - 1).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    chars = [c for c in base.columns if c not in ("age", "sex", "bmi", "height_cm", "weight_kg")]
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "site": alloc.sites,
            "arm": arms,
            "randomized_on": randomized_on,
            "age": base["age"].to_numpy(),
            "sex": base["sex"].to_numpy(),
            "height_cm": base["height_cm"].to_numpy(),
            "weight_kg": base["weight_kg"].to_numpy(),
            "bmi": base["bmi"].to_numpy(),
        }
    )
    for c in chars:
        participants[c] = base[c].to_numpy()
    # attended visit days are drawn within their windows (attendance.py)
    flags = population_flags(n_doses, scheduled_doses(protocol, arms), attended[:, -1], withdrawn)
    for population, flag in flags.items():
        participants[population] = flag
    participants["withdrawn_on"] = withdrawn_on
    participants["withdrawal_reason"] = pd.Series(["withdrew consent"] * n_total).where(withdrawn)
    participants["arm_received"] = pd.Series(arms).where(n_doses > 0)
    participants["randomization_number"] = alloc.numbers

    visit_names = np.array([v.name for v in protocol.assessment_visits], dtype=object)
    reasons = {"missed": cal.file.attendance.missed_reason, "withdrawn": "withdrew consent"}
    reason = pd.Series(att.status.ravel()).map(reasons)
    visits = pd.DataFrame(
        {
            "participant_id": np.repeat(ids, len(visit_names)),
            "visit": np.tile(visit_names, n_total),
            "status": att.status.ravel(),
            "day": pd.arrays.IntegerArray(att.day.ravel(), mask=~attended.ravel()),
            "reason": reason,
        }
    )
    ds = TrialDataset(
        participants=participants,
        measurements=measurements,
        adverse_events=adverse,
        screening=screening,
        dosing=dosing,
        visits=visits,
        intercurrent_events=withdrawals(visits, protocol),
    )
    validate_dataset(ds, protocol)
    return ds
