"""Forms built from the protocol (screening criteria) and the instrument item schemas (CRFs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from frailtrial.edc.errors import Conflict
from frailtrial.edc.services.common import parse_date
from frailtrial.errors import InputError
from frailtrial.instruments import Item, wording
from frailtrial.protocol import Protocol
from frailtrial.web import form_text
from frailtrial.web.form_text import unit, word
from frailtrial.web.templatetags.labels import SEXES, choices, yes_no

DATE = forms.DateInput(attrs={"type": "date", "min": "1900-01-01", "max": "2100-12-31"})


class TrialDateField(forms.DateField):
    """A date in the store's range, 1900-2100 (what the export and pandas can hold)."""

    widget = DATE

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value:
            try:
                parse_date(value, self.label or "date")
            except InputError as exc:
                raise forms.ValidationError(str(exc)) from None


def problems(form: forms.Form) -> str:
    """A bound form's errors as one line, each led by its field's label."""
    out = []
    for name, errors in form.errors.items():
        label = str(form[name].label) if name in form.fields else ""  # a field's or its name
        out += [e if not label or e.startswith(label) else f"{label}: {e}" for e in errors]
    return "; ".join(e.rstrip(".") for e in out) + "."


def posted_version(request: HttpRequest) -> int | None:
    """The record version the posted form was made on (None when it carries none); a value
    that is not a whole number of at least 1 is refused, not taken as none (which would turn
    the stale-edit check off)."""
    text = request.POST.get("version", "")
    if text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(
            f"version: a whole number of at least 1 (the version you read), not {text!r}"
        )
    return int(text)


def post_form(request: HttpRequest, form: forms.Form, do: Callable[[dict[str, Any]], str]) -> None:
    """Run ``do`` on the valid POSTed ``form``'s data and show the message it returns; else
    show in one line what is wrong: each field's problem led by its label, or the service's
    refusal (for the small action forms that post and go back to the page they sit on)."""
    if not form.is_valid():
        messages.error(request, gettext("Not saved: %(problems)s") % {"problems": problems(form)})
        return
    try:
        messages.success(request, do(form.cleaned_data))
    except (InputError, Conflict) as exc:
        messages.error(request, str(exc))


def screening_form(protocol: Protocol, data: Any = None) -> forms.Form:
    """The screening and eligibility form: demographics, frailty score, criteria, labs."""
    e = protocol.eligibility
    fields: dict[str, forms.Field] = {
        "screening_id": forms.CharField(max_length=40, label=_("Screening ID")),
        "screened_on": TrialDateField(label=_("Screening date"), initial=dt.date.today),
        "age": forms.FloatField(label=_("Age (years)"), min_value=0, max_value=130),
        "sex": forms.ChoiceField(choices=choices(SEXES), label=_("Sex")),
        "height_cm": forms.FloatField(label=_("Height (cm)"), min_value=50, max_value=250),
        "weight_kg": forms.FloatField(label=_("Weight (kg)"), min_value=20, max_value=300),
        "frailty_score": forms.FloatField(
            label=gettext("%(instrument)s score (eligible %(low)s-%(high)s)")
            % {
                "instrument": word(e.frailty.instrument),
                "low": f"{e.frailty.score_min:g}",
                "high": f"{e.frailty.score_max:g}",
            },
            required=False,
        ),
    }
    for c in e.other_instruments:
        fields[f"other__{c.instrument}"] = forms.FloatField(
            label=gettext("%(instrument)s score") % {"instrument": word(c.instrument)},
            required=False,
        )
    for prefix, says, criteria in (
        ("inc", gettext("Inclusion met"), e.inclusions),
        ("exc", gettext("Exclusion present"), e.exclusions),
    ):
        for item in criteria:
            fields[f"{prefix}__{item.id}"] = forms.BooleanField(
                label=f"{says}: {word(item.text)}", required=False
            )
    for lab in e.labs:
        shown_unit = gettext("value") if lab.relative_to_uln else unit(lab.unit)
        fields[f"lab__{lab.variable}"] = forms.FloatField(
            label=f"{word(lab.label)} ({shown_unit})",
            required=False,
        )
        if lab.relative_to_uln:
            fields[f"uln__{lab.variable}"] = forms.FloatField(
                label=gettext("%(lab)s: upper limit of normal") % {"lab": word(lab.label)},
                required=False,
            )
    fields["investigator_exclusion"] = forms.CharField(
        label=_("Other reason the investigator excludes (optional)"), required=False, max_length=500
    )
    form_class = type("ScreeningForm", (forms.Form,), fields)
    return form_class(data)


def screening_input(protocol: Protocol, cleaned: dict[str, Any]) -> dict[str, Any]:
    """The store's ScreeningInput from the cleaned form."""
    e = protocol.eligibility
    return {
        "screening_id": cleaned["screening_id"],
        "screened_on": cleaned["screened_on"],
        "age": cleaned["age"],
        "sex": cleaned["sex"],
        "height_cm": cleaned["height_cm"],
        "weight_kg": cleaned["weight_kg"],
        "frailty_score": cleaned.get("frailty_score"),
        "other_scores": {
            c.instrument: cleaned[f"other__{c.instrument}"]
            for c in e.other_instruments
            if cleaned.get(f"other__{c.instrument}") is not None
        },
        "inclusions": {i.id: bool(cleaned.get(f"inc__{i.id}")) for i in e.inclusions},
        "exclusions": {x.id: bool(cleaned.get(f"exc__{x.id}")) for x in e.exclusions},
        "labs": {
            lab.variable: cleaned[f"lab__{lab.variable}"]
            for lab in e.labs
            if cleaned.get(f"lab__{lab.variable}") is not None
        },
        "uln": {
            lab.variable: cleaned[f"uln__{lab.variable}"]
            for lab in e.labs
            if lab.relative_to_uln and cleaned.get(f"uln__{lab.variable}") is not None
        },
        "investigator_exclusion": cleaned.get("investigator_exclusion") or None,
    }


Responses = Mapping[str, Sequence[tuple[str, str]]]
"""Per item id, its coded responses with their wording: (value as text, wording)."""


def response_wording(
    instrument: str, items: Sequence[Item]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """The response wording of ``instrument`` for staff pages, in the page's language, from
    the wording files the participant pages read (shipped RAND-36 for SF-36 v1 in English, or
    the site's supplied files); empty when there is none in that language or it does not fit
    these items (then the bare codes are shown beside the translated item label, not English
    wording on a page in another language)."""
    language = (translation.get_language() or "en").lower()
    if language not in wording.LANGUAGES or not wording.path_of(instrument, language):
        return {}
    try:
        loaded = wording.load(instrument, language, tuple(items))
    except InputError:
        return {}
    return {q.item.id: q.responses for q in loaded.questions if q.responses}


def _field(item: Item, responses: Sequence[tuple[str, str]] = ()) -> forms.Field:
    label = item.label + (f" ({item.unit})" if item.unit else "")
    help_text = gettext("Allowed: %(values)s") % {"values": form_text.allowed(item)}
    if responses:  # a select; the value is still checked by crf_answers like a typed one
        return forms.CharField(
            required=False,
            label=label,
            help_text=help_text,
            widget=forms.Select(choices=[("", "—"), *[(v, f"{v} — {w}") for v, w in responses]]),
        )
    if item.kind == "choice":
        return forms.ChoiceField(
            choices=[("", "—"), *[(c, form_text.option(c)) for c in item.choices]],
            required=False,
            label=label,
            help_text=help_text,
        )
    if item.kind == "boolean":
        return forms.ChoiceField(
            choices=[("", "—"), *yes_no()],
            required=False,
            label=label,
            help_text=help_text,
        )
    if item.kind == "date":
        return forms.CharField(
            required=False,
            label=label,
            help_text=help_text,
            widget=DATE,
        )
    if item.kind == "text":
        return forms.CharField(required=False, label=label, help_text=help_text, max_length=500)
    if item.kind == "time":
        return forms.CharField(
            required=False,
            label=label,
            help_text=help_text,
            widget=forms.TextInput(attrs={"type": "time"}),
        )
    attrs: dict[str, Any] = {
        "step": "1" if item.kind == "integer" else "any",
        "inputmode": "numeric" if item.kind == "integer" else "decimal",
    }
    if item.minimum is not None:
        attrs["min"] = item.minimum
    if item.maximum is not None:
        attrs["max"] = item.maximum
    return forms.CharField(
        required=False,
        label=label,
        help_text=help_text,
        widget=forms.NumberInput(attrs=attrs),
    )


def crf_form(
    items: list[Item],
    data: Any = None,
    initial: dict[str, Any] | None = None,
    with_reason: bool = False,
    responses: Responses | None = None,
) -> forms.Form:
    """A CRF form: one field per item, named by the item id, allowed values as help text;
    an item with response wording is a list of its coded responses ("1 — Excellent")."""
    worded = responses or {}
    fields: dict[str, forms.Field] = {
        f"item_{i.id}": _field(i, worded.get(i.id, ())) for i in items
    }
    if with_reason:
        fields["reason"] = forms.CharField(
            label=_("Reason for change"), max_length=500, required=True
        )
    form_class = type("CrfForm", (forms.Form,), fields)
    init = {
        f"item_{k}": ("true" if v is True else "false" if v is False else v)
        for k, v in (initial or {}).items()
        if v is not None
    }
    return form_class(data, initial=init)


def crf_answers(form: forms.Form, items: list[Item], instrument: str) -> dict[str, Any]:
    """Typed answers from a bound CRF form; each bad value becomes an error on its field."""
    answers: dict[str, Any] = {}
    for item in items:
        raw = form.data.get(f"item_{item.id}", "")
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in ("", None):
            value: Any = None
        elif item.kind == "boolean":
            value = raw == "true"
        elif item.kind in ("integer", "number"):
            try:
                num = float(raw)
                value = int(num) if item.kind == "integer" and num.is_integer() else num
            except ValueError:
                said = gettext("%(value)s is not a number; %(allowed)s")
                form.add_error(
                    f"item_{item.id}",
                    said % {"value": repr(raw), "allowed": form_text.allowed(item)},
                )
                continue
        else:
            value = raw
        try:
            answers[item.id] = item.check(value, instrument)
        except InputError:
            said = gettext("Not allowed: expected %(allowed)s.")
            form.add_error(f"item_{item.id}", said % {"allowed": form_text.allowed(item)})
    return {k: v for k, v in answers.items() if v is not None}
