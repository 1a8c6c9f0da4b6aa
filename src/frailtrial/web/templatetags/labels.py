"""The ``label`` filter: stored status codes (visit states, SAE states, query statuses, AE
severity and outcome, sex) shown as words in the user's language; a value it does not know is
shown as stored. The words carry the context "status" (a stored state, not the same word
elsewhere on a page)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, pgettext_lazy

from frailtrial.web import form_text

register = template.Library()

LABELS: dict[str, Promise] = {
    # visits
    "scheduled": pgettext_lazy("status", "scheduled"),
    "attended": pgettext_lazy("status", "attended"),
    "missed": pgettext_lazy("status", "missed"),
    "withdrawn": pgettext_lazy("status", "withdrawn"),
    "due": pgettext_lazy("status", "due"),
    "overdue": pgettext_lazy("status", "overdue"),
    "upcoming": pgettext_lazy("status", "upcoming"),
    # SAE alerts and queries
    "open": pgettext_lazy("status", "open"),
    "acknowledged": pgettext_lazy("status", "acknowledged"),
    "acknowledged late": pgettext_lazy("status", "acknowledged late"),
    "answered": pgettext_lazy("status", "answered"),
    "closed": pgettext_lazy("status", "closed"),
    # adverse events
    "mild": pgettext_lazy("status", "mild"),
    "moderate": pgettext_lazy("status", "moderate"),
    "severe": pgettext_lazy("status", "severe"),
    "life_threatening": pgettext_lazy("status", "life-threatening"),
    "fatal": pgettext_lazy("status", "fatal"),
    "recovered": pgettext_lazy("status", "recovered"),
    "recovering": pgettext_lazy("status", "recovering"),
    "not_recovered": pgettext_lazy("status", "not recovered"),
    "recovered_with_sequelae": pgettext_lazy("status", "recovered with sequelae"),
    "unknown": pgettext_lazy("status", "unknown"),
    "not_related": pgettext_lazy("status", "not related"),
    "unlikely": pgettext_lazy("status", "unlikely"),
    "possible": pgettext_lazy("status", "possible"),
    "probable": pgettext_lazy("status", "probable"),
    "definite": pgettext_lazy("status", "definite"),
    "expected": pgettext_lazy("status", "expected"),
    "unexpected": pgettext_lazy("status", "unexpected"),
    # participants
    "female": pgettext_lazy("status", "female"),
    "male": pgettext_lazy("status", "male"),
    # kinds of pre-lock checklist items
    "sae": pgettext_lazy("checklist", "SAE"),
    "query": pgettext_lazy("checklist", "query"),
    "crf": pgettext_lazy("checklist", "CRF"),
    "date": pgettext_lazy("checklist", "date after the lock"),
    # audit trail actions
    "create": pgettext_lazy("audit", "create"),
    "update": pgettext_lazy("audit", "update"),
    "delete": pgettext_lazy("audit", "delete"),
    # staff roles (the stored role code shown as its name)
    "admin": pgettext_lazy("role", "admin"),
    "investigator": pgettext_lazy("role", "investigator"),
    "coordinator": pgettext_lazy("role", "coordinator"),
    "outcome_assessor": pgettext_lazy("role", "outcome assessor"),
    "unblinded_pharmacist": pgettext_lazy("role", "unblinded pharmacist"),
    "statistician": pgettext_lazy("role", "statistician"),
    "monitor": pgettext_lazy("role", "monitor"),
    "dsmb": pgettext_lazy("role", "DSMB"),
    "medical_monitor": pgettext_lazy("role", "medical monitor"),
}
SEXES = ("female", "male")


def yes_no() -> list[tuple[str, object]]:
    """A yes/no choice posted as "true"/"false", shown in the user's language."""
    return [("true", gettext_lazy("yes")), ("false", gettext_lazy("no"))]


def choices(values: tuple[str, ...]) -> list[tuple[str, object]]:
    """Form choices of stored codes, each shown by its word in the user's language."""
    return [(v, LABELS.get(v, v.replace("_", " "))) for v in values]


@register.filter
def options(codes: Iterable[object] | None) -> str:
    """Stored response codes (a list) as their words in the user's language, as a list."""
    return form_text.listing([form_text.option(str(c)) for c in codes or ()])


@register.filter
def form_word(text: str) -> str:
    """A built-in protocol's wording (an arm's label, its product) in the user's language."""
    return form_text.word(text)


@register.filter
def label(value: object) -> object:
    """The word for a stored code, translated; anything else unchanged."""
    return LABELS.get(value, value) if isinstance(value, str) else value
