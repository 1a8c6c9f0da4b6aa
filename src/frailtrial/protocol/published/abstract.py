"""Typed view of what a trial's published abstract states, for a trial whose full tables are
not at hand (CRATUS: Tompkins et al. 2017). Numbers are the PRINTED strings; ``not_given``
lists, in words, the facts a reader would want that the abstract does not give.

::

    from frailtrial.protocol.published.abstract import load_abstract
    ab = load_abstract("cratus-2017")
    ab.n_randomized, ab.primary.therapy_related_events      # "30", 0
    ab.findings[0].variable, ab.findings[0].arm              # "sixmwd", "mscs_100m"
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from frailtrial.protocol.loader import load_packaged, package_yaml_names

_PACKAGE = "frailtrial.protocol.published.abstracts"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrimaryStatement(_Frozen):
    """The abstract's statement on the primary endpoint, and the count it implies."""

    endpoint: str
    statement: str
    therapy_related_events: int = Field(ge=0, description="Participants with a related event")


class Finding(_Frozen):
    """A 6-month finding: in ``arm``, against baseline or against placebo, the variable
    ``improved`` (changed in its direction of benefit, at the printed p) or did not."""

    variable: str
    arm: str
    versus: Literal["baseline", "placebo"]
    improved: bool
    p: str | None = None
    statement: str
    note: str | None = None


class PublishedAbstract(_Frozen):
    """What an abstract states: design, size, the primary result and the findings."""

    name: str
    protocol: str
    source: str
    arms: dict[str, str] = Field(description="Our arm name -> the abstract's words")
    n_randomized: str
    age_mean: str
    age_sd: str
    visit: str = Field(description="Our visit of the abstract's findings (6 months)")
    primary: PrimaryStatement
    findings: list[Finding]
    not_given: list[str]


def abstract_names() -> list[str]:
    """Names of the trials whose abstract frailtrial holds (one YAML file each)."""
    return package_yaml_names(_PACKAGE)


def load_abstract(name: str) -> PublishedAbstract:
    """What the abstract of trial ``name`` (e.g. ``cratus-2017``) states."""
    return load_packaged(_PACKAGE, name, PublishedAbstract, "published abstract")
