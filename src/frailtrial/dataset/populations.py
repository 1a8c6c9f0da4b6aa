"""The analysis population flags of participants.csv (``itt``, ``safety``, ``per_protocol``),
derived in one place for every producer of the dataset (the simulator, the EDC export).

ITT: every randomized participant (by assigned arm). Safety: every participant who received
at least one dose. Per-protocol: every scheduled dose of the assigned arm received, the last
assessment visit attended within its window, and not withdrawn. The analysis reads the
flags (``frailtrial.analysis.populations``); completers it derives itself from attendance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frailtrial.protocol import Protocol


def scheduled_doses(protocol: Protocol, arms: Sequence[Any] | NDArray[Any]) -> NDArray[np.int64]:
    """Number of doses the protocol schedules for each participant's assigned arm."""
    per_arm = {a.name: len(a.dose.infusion_days) for a in protocol.arms}
    return np.array([per_arm[str(a)] for a in arms], dtype=np.int64)


def population_flags(
    doses_given: ArrayLike,
    doses_scheduled: ArrayLike,
    last_visit_in_window: ArrayLike,
    withdrawn: ArrayLike,
) -> dict[str, NDArray[np.bool_]]:
    """``itt``, ``safety`` and ``per_protocol`` of each randomized participant, from the
    doses received and scheduled, attendance of the last assessment visit within its window,
    and withdrawal (one entry per participant, all the same length)."""
    given = np.asarray(doses_given, dtype=np.int64)
    return {
        "itt": np.ones(len(given), dtype=bool),
        "safety": given > 0,
        "per_protocol": (given == np.asarray(doses_scheduled, dtype=np.int64))
        & np.asarray(last_visit_in_window, dtype=bool)
        & ~np.asarray(withdrawn, dtype=bool),
    }
