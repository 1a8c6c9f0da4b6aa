"""Cell product: lot release tests, dose preparation by the protocol's rule, infusion records.

Release follows the ISCT minimal criteria for MSCs (Dominici et al. 2006) and the usual
product tests: sterility and mycoplasma negative, endotoxin <= 0.5 EU/mL, viability >= 70 %,
CD73/CD90/CD105 >= 95 % and CD34/CD45/CD14/CD19/HLA-DR <= 2 %. A placebo lot needs sterility
and endotoxin only. A lot that fails any test is recorded as rejected and is never dosed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.db.models import Sum

from frailtrial.edc.models import Allocation, Infusion, Lot, Membership, Preparation
from frailtrial.edc.roles import CLINICAL, PHARMACY
from frailtrial.edc.services import audit, safety, visits
from frailtrial.edc.services.common import (
    now,
    participant,
    protocol_of,
    require,
    write,
)
from frailtrial.edc.services.crf import latest_weight
from frailtrial.edc.services.entry import (
    clean_text,
    event_date,
    event_time,
    finite,
    not_before,
    safe_id,
)
from frailtrial.edc.services.rows import by_key, create
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import DoseRule

ENDOTOXIN_MAX_EU_ML = 0.5
VIABILITY_MIN_PCT = 70.0
POSITIVE_MARKERS = ("cd73", "cd90", "cd105")
NEGATIVE_MARKERS = ("cd34", "cd45", "cd14", "cd19", "hla_dr")
POSITIVE_MIN_PCT = 95.0
NEGATIVE_MAX_PCT = 2.0
DEFAULT_VOLUME_ML = 100.0


def release_failures(tests: dict[str, Any], is_placebo: bool) -> list[str]:
    """Every release test the lot fails or lacks (empty: the lot may be released)."""
    failures = []
    for name in ("sterility", "mycoplasma") if not is_placebo else ("sterility",):
        value = tests.get(name)
        if value != "negative":
            failures.append(f"{name}: {value or 'not tested'} (must be negative)")
    endo = tests.get("endotoxin_eu_ml")
    if not isinstance(endo, (int, float)) or endo > ENDOTOXIN_MAX_EU_ML:
        failures.append(f"endotoxin: {endo} EU/mL (must be <= {ENDOTOXIN_MAX_EU_ML})")
    if is_placebo:
        return failures
    via = tests.get("viability_pct")
    if not isinstance(via, (int, float)) or via < VIABILITY_MIN_PCT:
        failures.append(f"viability: {via} % (must be >= {VIABILITY_MIN_PCT:g})")
    for m in POSITIVE_MARKERS:
        v = tests.get(m)
        if not isinstance(v, (int, float)) or v < POSITIVE_MIN_PCT:
            failures.append(f"identity {m.upper()}: {v} % (must be >= {POSITIVE_MIN_PCT:g})")
    for m in NEGATIVE_MARKERS:
        v = tests.get(m)
        if not isinstance(v, (int, float)) or v > NEGATIVE_MAX_PCT:
            failures.append(f"identity {m.upper()}: {v} % (must be <= {NEGATIVE_MAX_PCT:g})")
    return failures


def record_lot(
    actor: Membership,
    lot_number: str,
    product: str,
    tested_on: str | dt.date,
    tests: dict[str, Any],
    is_placebo: bool = False,
    cells_per_ml: float | None = None,
    volume_ml: float | None = None,
) -> Lot:
    """Record a lot's release tests; released only when every test passes. A cell lot needs
    its concentration (the draw volume is computed from it); ``volume_ml``, what the lot holds,
    is optional (None: not tracked) and limits the doses drawn from it."""
    require(actor, PHARMACY, "lot release")
    if not lot_number.strip():
        raise InputError("a lot needs its lot number")
    if is_placebo and cells_per_ml is not None:
        raise InputError(f"lot {lot_number}: a placebo lot holds no cells (no cells per mL)")
    if not is_placebo and (cells_per_ml is None or not 0 < cells_per_ml < 1e12):
        raise InputError(
            f"lot {lot_number}: a cell lot needs its concentration in cells per mL "
            f"(above 0, below 1e12), got {cells_per_ml}"
        )
    if volume_ml is not None and not 0 < volume_ml <= 100_000:
        raise InputError(f"lot {lot_number}: volume {volume_ml} mL is outside 0-100000 mL")
    safe_id(lot_number, "lot number")
    clean_text([product, tests], "lot")
    finite(tests, "lot tests")
    failures = release_failures(tests, is_placebo)
    with write(actor) as trial:
        if Lot.objects.filter(trial=trial, lot_number=lot_number).exists():
            raise InputError(f"lot {lot_number} is already recorded")
        lot = Lot.objects.create(
            trial=trial,
            lot_number=lot_number,
            product=product,
            is_placebo=is_placebo,
            cells_per_ml=cells_per_ml,
            volume_ml=volume_ml,
            tests=tests,
            released=not failures,
            failures=failures,
            tested_on=event_date(tested_on, "test date"),
            recorded_by=actor,
        )
        audit.created(actor, lot, blinded=True)
    return lot


def infusion_volume(protocol: Protocol) -> float:
    """The fixed volume of every bag, the same in every arm (blinding): the largest volume an
    arm's dose rule sets, else ``DEFAULT_VOLUME_ML``."""
    given = [a.dose.volume_ml for a in protocol.arms if a.dose.volume_ml]
    return max(given) if given else DEFAULT_VOLUME_ML


def dose_for(rule: DoseRule, weight_kg: float) -> tuple[float, float]:
    """(cells, cells per kg) of one infusion by the arm's rule at the visit's weight."""
    if rule.kind == "per_kg":
        cells = float(rule.cells_per_kg or 0.0) * weight_kg
    elif rule.kind == "fixed":
        cells = float(rule.cells or 0.0)
    else:
        cells = 0.0
    return cells, cells / weight_kg


@dataclass(frozen=True)
class Volumes:
    """One bag: drawn from the lot, vehicle added, and the total (the protocol's volume)."""

    draw_ml: float
    diluent_ml: float
    total_ml: float


def volumes(lot: Lot, cells: float, total_ml: float, used_ml: float, dose: str) -> Volumes:
    """Draw ``cells`` from ``lot`` and make it up to ``total_ml`` with vehicle; a placebo bag
    is ``total_ml`` of the placebo lot, so both arms look alike. InputError (naming the lot,
    its concentration and volume, and the dose) when the lot cannot supply it: more
    concentrate than the bag holds, or more than is left of the lot after ``used_ml``."""
    if lot.is_placebo:
        draw = total_ml
    else:
        draw = cells / float(lot.cells_per_ml or 0.0) if lot.cells_per_ml else float("inf")
    left = None if lot.volume_ml is None else lot.volume_ml - used_ml
    if draw > total_ml or (left is not None and draw > left):
        conc = "placebo" if lot.is_placebo else f"{lot.cells_per_ml:.3g} cells/mL"
        held = (
            "volume not recorded"
            if lot.volume_ml is None
            else f"{left:g} of {lot.volume_ml:g} mL left"
        )
        limit = (
            f"more than the {total_ml:g} mL infusion volume"
            if draw > total_ml
            else "more than is left of the lot"
        )
        raise InputError(
            f"lot {lot.lot_number} ({conc}, {held}) cannot supply {dose}: "
            f"it needs {draw:.4g} mL drawn, {limit}"
        )
    return Volumes(draw, total_ml - draw, total_ml)


def prepare(
    actor: Membership,
    participant_id: str,
    dose_number: int,
    lot_number: str,
    weight_kg: float | None = None,
) -> Preparation:
    """The pharmacy prepares one infusion: lot checked, dose by the arm's rule, the volume
    drawn from the lot made up to the protocol's infusion volume, a kit code.

    The dose per kg reads ``weight_kg`` when given, else the participant's latest recorded
    weight (vital signs of the latest visit, else screening)."""
    require(actor, PHARMACY, "dose preparation")
    if weight_kg is not None and not 20 <= weight_kg <= 300:
        raise InputError(f"weight {weight_kg} kg is outside 20-300 kg")
    with write(actor) as trial:
        p = participant(actor, participant_id)
        if weight_kg is None:
            weight_kg, _ = latest_weight(p)
        protocol = protocol_of(trial)
        allocation = by_key(Allocation, participant_id=p.pk)
        if allocation is None:
            raise InputError(f"{participant_id} has no allocation")
        arm = protocol.arm(allocation.arm)
        if not 1 <= dose_number <= len(arm.dose.infusion_days):
            raise InputError(
                f"dose {dose_number}: the protocol gives {len(arm.dose.infusion_days)} infusion(s)"
            )
        lot = by_key(Lot, trial_id=trial.pk, lot_number=lot_number)
        if lot is None:
            raise InputError(f"lot {lot_number} is not recorded")
        if not lot.released:
            raise InputError(
                f"lot {lot_number} failed release and cannot be dosed: " + "; ".join(lot.failures)
            )
        if lot.is_placebo != (arm.role == "placebo"):
            raise InputError(f"lot {lot_number} does not hold this participant's product")
        if by_key(Preparation, participant_id=p.pk, dose_number=dose_number) is not None:
            raise InputError(f"dose {dose_number} of {participant_id} is already prepared")
        cells, per_kg = dose_for(arm.dose, weight_kg)
        used = Preparation.objects.filter(lot=lot).aggregate(v=Sum("draw_ml"))["v"] or 0.0
        bag = volumes(
            lot,
            cells,
            infusion_volume(protocol),
            used,
            f"dose {dose_number} of {participant_id} ({cells:.3g} cells)",
        )
        prep = create(
            Preparation,
            participant=p,
            dose_number=dose_number,
            lot=lot,
            weight_kg=weight_kg,
            cells=cells,
            cells_per_kg=per_kg,
            volume_ml=bag.total_ml,
            draw_ml=bag.draw_ml,
            diluent_ml=bag.diluent_ml,
            kit_code=f"KIT-{secrets.token_hex(4).upper()}",
            prepared_at=now(),
        )
        audit.created(actor, prep, blinded=True)
    return prep


@dataclass(frozen=True)
class InfusionView:
    """An infusion as every role may see it: the same fields for active and placebo."""

    participant_id: str
    dose_number: int
    kit_code: str
    given_on: dt.date
    day: int
    started_at: dt.datetime
    ended_at: dt.datetime
    volume_ml: float


def check_infusion(started_at: dt.datetime, ended_at: dt.datetime, volume_ml: Any) -> float:
    """The checks of an infusion's times and volume, on entry and on correction: the volume
    as a float."""
    event_time(started_at, "infusion start")
    event_time(ended_at, "infusion end")
    if ended_at < started_at:
        raise InputError("infusion end is before its start")
    number = isinstance(volume_ml, (int, float)) and not isinstance(volume_ml, bool)
    if not number or not 0 < volume_ml <= 1000:
        raise InputError(f"volume {volume_ml!r} mL is outside 0-1000 mL")
    return float(volume_ml)


def infuse(
    actor: Membership,
    participant_id: str,
    kit_code: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    volume_ml: float,
) -> InfusionView:
    """Record an infusion at the bedside by kit code; the first one anchors the schedule."""
    require(actor, (*CLINICAL, *PHARMACY), "recording an infusion")
    volume_ml = check_infusion(started_at, ended_at, volume_ml)
    with write(actor):
        p = participant(actor, participant_id)
        prep = by_key(Preparation, participant_id=p.pk, kit_code=kit_code)
        if prep is None:
            raise InputError(f"kit {kit_code} is not prepared for {participant_id}")
        if by_key(Infusion, preparation_id=prep.pk) is not None:
            raise InputError(f"kit {kit_code} was already infused")
        if p.withdrawn_on is not None:
            raise InputError(f"{participant_id} withdrew on {p.withdrawn_on}")
        given_on = started_at.date()
        not_before(given_on, p.randomized_on, "infusion date", "the randomization date")
        not_before(given_on, p.first_infusion_on, "infusion date", "the first infusion")
        if prep.dose_number == 1:
            audit.update(actor, p, {"first_infusion_on": given_on}, "first infusion")
            visits.reanchor(actor, p, given_on)
            safety.reclassify(actor, p)
        elif p.first_infusion_on is None:
            raise InputError("record the first infusion before later ones")
        inf = create(
            Infusion,
            participant=p,
            preparation=prep,
            dose_number=prep.dose_number,
            given_on=given_on,
            day=visits.study_day(visits.anchor_of(p), given_on),
            started_at=started_at,
            ended_at=ended_at,
            volume_ml=volume_ml,
        )
        audit.created(actor, inf)
    return InfusionView(
        p.participant_id,
        inf.dose_number,
        kit_code,
        inf.given_on,
        inf.day,
        inf.started_at,
        inf.ended_at,
        inf.volume_ml,
    )
