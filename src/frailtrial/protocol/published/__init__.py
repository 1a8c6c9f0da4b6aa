"""Published tables of the built-in trials as data (printed strings, inconsistencies noted).

Usage::

    from frailtrial.protocol.published import load_published
    pub = load_published("huc-msc-2024")
    cell = pub.table3.row("pcs").cells["mscs"]["month6"]   # Cell(mean="351.83", sd="68.35")
    pub.attendance.visits["month3"]["placebo"]              # 13
    pub.table1.rows[0].cells["mscs"].mean                   # "67.27"
"""

from frailtrial.protocol.published.tables import (
    AdverseEventRow,
    Attendance,
    BaselineRow,
    Cell,
    OutcomeRow,
    PublishedTrial,
    decimals,
    load_published,
    printed_as,
    published_names,
)

__all__ = [
    "AdverseEventRow",
    "Attendance",
    "BaselineRow",
    "Cell",
    "OutcomeRow",
    "PublishedTrial",
    "decimals",
    "load_published",
    "printed_as",
    "published_names",
]
