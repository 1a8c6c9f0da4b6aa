"""The result of an analysis: every number of the report, and its JSON and CSV forms."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.analysis.consort import ConsortFlow
from frailtrial.analysis.endpoints import incidence_frame
from frailtrial.analysis.models import Models
from frailtrial.analysis.populations import Populations
from frailtrial.analysis.records import records
from frailtrial.analysis.sensitivity import Sensitivity
from frailtrial.analysis.table1 import Table1
from frailtrial.analysis.table2 import Table2
from frailtrial.analysis.table3 import Table3
from frailtrial.protocol import Protocol


@dataclass
class AnalysisResult:
    """Everything :func:`frailtrial.analysis.pipeline.analyze` computes."""

    protocol: Protocol
    populations: Populations
    population_counts: dict[str, dict[str, int]]
    consort: ConsortFlow
    compliance: dict[str, Any]
    missing: pd.DataFrame
    table1: Table1
    table2: Table2
    table3: Table3
    models: Models
    provenance: dict[str, Any]
    headline: dict[str, Any]
    incidence: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sensitivity: Sensitivity = field(default_factory=Sensitivity)
    # figures drawn from this result's protocol and Table 3 while the worker fitted the
    # models (pipeline.draw_early): SVG by file name without .svg; write_outputs draws
    # them again when they are not the set this result needs
    drawn: dict[str, str] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table of the report by its CSV name (without .csv)."""
        return {
            "populations": pd.DataFrame(
                [{"population": k, **v} for k, v in self.population_counts.items()]
            ),
            "consort": _consort_frame(self.consort),
            "compliance": self.compliance["by_visit"],
            "missing_data": self.missing,
            "table1": self.table1.rows,
            "table2": self.table2.rows,
            "table3": self.table3.csv_frame(),
            "table3_detail": self.table3.cells,
            "models": self.models.effects,
            "model_fits": self.models.fits,
            "incidence": incidence_frame(self.incidence),
            "sensitivity": self.sensitivity.effects,
            "tipping_point": self.sensitivity.tipping,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document results.json holds: every number of the report."""
        comp = {k: v for k, v in self.compliance.items() if k != "by_visit"}
        return {
            "protocol": self.protocol.name,
            "provenance": self.provenance,
            "headline": self.headline,
            "populations": self.population_counts,
            "consort": self.consort.as_dict(),
            "compliance": {
                **comp,
                "by_visit": records(self.compliance["by_visit"], missing_as_none=True),
            },
            "missing_data": records(self.missing, missing_as_none=True),
            "table1": {
                "n": self.table1.n,
                "footnote": self.table1.footnote,
                "rows": records(self.table1.rows, missing_as_none=True),
            },
            "table2": {
                "n": self.table2.n,
                "footnote": self.table2.footnote,
                "rows": records(self.table2.rows, missing_as_none=True),
            },
            "table3": {
                "footnote": self.table3.footnote,
                "cells": records(self.table3.cells, missing_as_none=True),
            },
            "models": {
                "effects": records(self.models.effects, missing_as_none=True),
                "fits": records(self.models.fits, missing_as_none=True),
            },
            "incidence": self.incidence,
            "sensitivity": self.sensitivity.to_dict(self.protocol),
            "notes": self.notes,
        }

    def to_json(self) -> str:
        """results.json: one JSON document (NaN written as null)."""
        return json.dumps(plain(self.to_dict()), indent=1, allow_nan=False, ensure_ascii=False)


def plain(obj: Any) -> Any:
    """JSON-ready Python values: numpy scalars unboxed, NaN and infinities as None."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def _consort_frame(flow: ConsortFlow) -> pd.DataFrame:
    rows: list[dict[str, Any]] = [
        {"stage": "screened", "arm": "", "reason": "", "n": flow.screened},
        {"stage": "excluded", "arm": "", "reason": "", "n": flow.excluded},
    ]
    rows += [
        {"stage": "excluded", "arm": "", "reason": r, "n": n}
        for r, n in flow.excluded_reasons.items()
    ]
    rows.append({"stage": "randomized", "arm": "", "reason": "", "n": flow.randomized})
    for a in flow.arms:
        stages = ("allocated", "received", "not_received", "withdrawn", "analysed")
        for stage in (*stages, "excluded_from_analysis"):
            rows.append({"stage": stage, "arm": a.arm, "reason": "", "n": getattr(a, stage)})
        rows += [
            {"stage": "withdrawn", "arm": a.arm, "reason": r, "n": n}
            for r, n in a.withdrawal_reasons.items()
        ]
        rows += [
            {"stage": "excluded_from_analysis", "arm": a.arm, "reason": r, "n": n}
            for r, n in a.exclusion_reasons.items()
        ]
    return pd.DataFrame(rows)


def write_tables(result: AnalysisResult, folder: Path) -> list[Path]:
    """tables/*.csv: one file per table, table3.csv with the contract columns exactly."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in result.frames().items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written
