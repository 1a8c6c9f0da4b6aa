"""Screening log with eligibility, consent, and closing a screening without randomization."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from frailtrial.edc.eligibility import ScreeningInput, evaluate, frailty_score
from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import Consent, Membership, Screening, Site
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    CLINICAL,
    missing,
    protocol_of,
    require,
    require_site,
    write,
)
from frailtrial.edc.services.entry import (
    clean_text,
    event_date,
    finite,
    not_before,
    safe_id,
)
from frailtrial.edc.services.rows import by_key, create
from frailtrial.errors import InputError


def parse_input(data: ScreeningInput | dict[str, Any]) -> ScreeningInput:
    """Screening inputs checked against :class:`ScreeningInput`; InputError naming the field."""
    if isinstance(data, ScreeningInput):
        return data
    try:
        return ScreeningInput.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"screening field {where}: {err['msg']}") from None


def _site(actor: Membership, site_code: str | None) -> Site:
    if actor.site_id is not None:
        if site_code and site_code != actor.site.code:
            raise AccessDenied(f"you screen only at site {actor.site.code}")
        return actor.site
    if site_code:
        site = by_key(Site, trial_id=actor.trial_id, code=site_code)
        if site is None:
            raise InputError(f"site {site_code!r} is not a site of this trial")
        return site
    first = Site.objects.filter(trial_id=actor.trial_id).order_by("pk").first()
    if first is None:
        raise InputError("the trial has no site")
    return first


def screen(
    actor: Membership, data: ScreeningInput | dict[str, Any], site_code: str | None = None
) -> Screening:
    """Record a screened person and judge eligibility from the protocol; reasons when not."""
    require(actor, CLINICAL, "screening")
    inp = parse_input(data)
    safe_id(inp.screening_id, "screening id")
    event_date(inp.screened_on, "screening date")
    answers = inp.model_dump()
    clean_text(answers, "screening")
    finite(answers, "screening")
    protocol = protocol_of(actor.trial)
    score = frailty_score(protocol, protocol.eligibility.frailty, inp)  # answers scored once
    scored = inp.model_copy(update={"frailty_score": score, "frailty_answers": None})
    reasons = evaluate(protocol, scored)
    inputs = inp.model_dump(mode="json")
    inputs["frailty_score"] = score
    site = _site(actor, site_code)
    with write(actor) as trial:
        if by_key(Screening, trial_id=trial.pk, screening_id=inp.screening_id) is not None:
            raise InputError(f"screening id {inp.screening_id!r} is already in the log")
        s = create(
            Screening,
            trial=trial,
            site=site,
            screening_id=inp.screening_id,
            screened_on=inp.screened_on,
            inputs=inputs,
            eligible=not reasons,
            reasons=reasons,
            reason_not_randomized="; ".join(reasons),
            closed=bool(reasons),
        )
        audit.created(actor, s)
    return s


def get_screening(actor: Membership, screening_id: str) -> Screening:
    s = by_key(Screening, related="site", trial_id=actor.trial_id, screening_id=screening_id)
    if s is None:
        message = f"no screening {screening_id!r} in this trial"
        raise missing(actor, f"screening {screening_id}", message)
    require_site(actor, s.site_id, f"screening {screening_id}")
    return s


def consent(
    actor: Membership, screening_id: str, version: str, signed_on: str | dt.date
) -> Consent:
    """Record informed consent (form version and date) for an eligible screened person."""
    require(actor, CLINICAL, "recording consent")
    if not version.strip():
        raise InputError("consent needs the form version")
    clean_text(version, "consent form version")
    day = event_date(signed_on, "consent date")
    with write(actor):
        s = get_screening(actor, screening_id)
        if s.closed:
            raise InputError(f"screening {screening_id} is closed: {s.reason_not_randomized}")
        not_before(day, s.screened_on, "consent date", "the screening date")
        c = create(Consent, screening=s, version=version, signed_on=day)
        audit.created(actor, c)
    return c


def close(actor: Membership, screening_id: str, reason: str) -> Screening:
    """Close an eligible person's screening without randomization (e.g. consent declined)."""
    require(actor, CLINICAL, "closing a screening")
    if not reason.strip():
        raise InputError("closing a screening needs the reason the person is not randomized")
    clean_text(reason, "reason not randomized")
    with write(actor):
        s = get_screening(actor, screening_id)
        if s.closed:
            raise InputError(f"screening {screening_id} is already closed")
        audit.update(actor, s, {"closed": True, "reason_not_randomized": reason}, reason)
    return s
