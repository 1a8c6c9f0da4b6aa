"""Table 1 tells a characteristic nobody has a value of ("not collected") from one whose
every participant has the same level, even a level spelled like a missing value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from frailtrial.analysis.table1 import NOT_COLLECTED, table1
from frailtrial.protocol import load
from frailtrial.protocol.model import BaselineCharacteristic


def test_a_level_named_none_is_counted_not_taken_for_missing() -> None:
    huc = load("huc-msc-2024")
    smoking = BaselineCharacteristic(
        name="smoking",
        label="Smoking",
        kind="categorical",
        levels=["none", "former", "current"],
        summary="n_pct",
    )
    protocol = huc.model_copy(
        update={"baseline_characteristics": [*huc.baseline_characteristics, smoking]}
    )
    n = 8
    parts = pd.DataFrame({"participant_id": [f"P{i}" for i in range(n)]})
    for c in protocol.baseline_characteristics:
        parts[c.name] = np.nan
    parts["smoking"] = "none"  # nobody smokes: 4 of 4 in each arm (by hand)
    itt = pd.Series(["mscs", "placebo"] * 4, index=parts["participant_id"])
    rows = table1(parts, itt, protocol).rows
    smoke = rows[rows["characteristic"] == "smoking"]
    assert NOT_COLLECTED not in set(smoke["mscs"]) | set(smoke["placebo"])
    assert smoke.set_index("level").loc["none", "mscs_count"] == 4
    aspirin = rows[rows["characteristic"] == "aspirin"]
    assert set(aspirin["mscs"]) == {NOT_COLLECTED}
