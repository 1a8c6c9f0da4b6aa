"""The tidy trial dataset's columns: names, types and whether each is required.

Producers (the simulator, the EDC export, a user's own CSVs) and the analysis share this one
definition; nothing else in frailtrial spells out these columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from frailtrial.protocol.model import ICE_EVENTS, ICE_STRATEGIES, SEX_LEVELS

ColumnType = Literal["str", "int", "float", "bool", "date", "choice"]


@dataclass(frozen=True)
class Column:
    """One column of a dataset file."""

    name: str
    type: ColumnType
    required: bool = True
    nullable: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None


@dataclass(frozen=True)
class FileSchema:
    """One file of the dataset: its columns, its key and the row it describes."""

    name: str
    row: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    optional: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


SEVERITY = ("mild", "moderate", "severe", "life_threatening", "fatal")
OUTCOME = (
    "recovered",
    "recovering",
    "not_recovered",
    "recovered_with_sequelae",
    "fatal",
    "unknown",
)
VISIT_STATUS = ("attended", "missed", "withdrawn")
# baseline characteristics with their own participants.csv column (the protocol's other
# baseline characteristics come after the fixed columns)
DEMOGRAPHICS = ("age", "sex", "height_cm", "weight_kg", "bmi")

PARTICIPANTS = FileSchema(
    "participants",
    "randomized participant",
    (
        Column("participant_id", "str"),
        Column("site", "str"),
        Column("arm", "choice"),
        Column("randomized_on", "date"),
        Column("age", "float", minimum=0),
        Column("sex", "choice", choices=SEX_LEVELS),
        Column("height_cm", "float", minimum=0),
        Column("weight_kg", "float", minimum=0),
        Column("bmi", "float", minimum=0),
        Column("itt", "bool"),
        Column("safety", "bool"),
        Column("per_protocol", "bool"),
        Column("withdrawn_on", "date", nullable=True),
        Column("withdrawal_reason", "str", nullable=True),
        Column("arm_received", "choice", required=False, nullable=True),
        Column("randomization_number", "str", required=False, nullable=True),
    ),
    key=("participant_id",),
)
MEASUREMENTS = FileSchema(
    "measurements",
    "participant x visit x variable",
    (
        Column("participant_id", "str"),
        Column("visit", "choice"),
        Column("day", "int"),
        Column("variable", "choice"),
        Column("value", "float"),
        Column("unit", "str", nullable=True),
        Column("below_lloq", "bool", required=False, nullable=True),
    ),
    key=("participant_id", "visit", "variable"),
)
ADVERSE_EVENTS = FileSchema(
    "adverse_events",
    "adverse event",
    (
        Column("participant_id", "str"),
        Column("term", "str"),
        Column("body_system", "str"),
        Column("onset_day", "int"),
        Column("serious", "bool"),
        Column("severity", "choice", choices=SEVERITY),
        Column("related", "bool"),
        Column("outcome", "choice", choices=OUTCOME),
        Column("end_day", "int", required=False, nullable=True),
    ),
)
SCREENING = FileSchema(
    "screening",
    "person screened",
    (
        Column("screening_id", "str"),
        Column("screened_on", "date"),
        Column("eligible", "bool"),
        Column("reason_not_randomized", "str", nullable=True),
        Column("participant_id", "str", nullable=True),
    ),
    key=("screening_id",),
)
DOSING = FileSchema(
    "dosing",
    "infusion",
    (
        Column("participant_id", "str"),
        Column("dose_number", "int", minimum=1),
        Column("day", "int"),
        Column("cells", "float", minimum=0),
        Column("cells_per_kg", "float", minimum=0),
        Column("lot", "str"),
    ),
    key=("participant_id", "dose_number"),
)
VISITS = FileSchema(
    "visits",
    "participant x scheduled visit",
    (
        Column("participant_id", "str"),
        Column("visit", "choice"),
        Column("status", "choice", choices=VISIT_STATUS),
        Column("day", "int", nullable=True),
        Column("reason", "str", nullable=True),
    ),
    key=("participant_id", "visit"),
    optional=True,
)

INTERCURRENT_EVENTS = FileSchema(
    "intercurrent_events",
    "participant x intercurrent event",
    (
        Column("participant_id", "str"),
        Column("visit", "choice"),  # the first visit the event affects
        Column("event", "choice", choices=ICE_EVENTS),
        Column("strategy", "choice", choices=ICE_STRATEGIES),
    ),
    key=("participant_id", "event"),
    optional=True,
)

FILES: tuple[FileSchema, ...] = (
    PARTICIPANTS,
    MEASUREMENTS,
    ADVERSE_EVENTS,
    SCREENING,
    DOSING,
    VISITS,
    INTERCURRENT_EVENTS,
)
