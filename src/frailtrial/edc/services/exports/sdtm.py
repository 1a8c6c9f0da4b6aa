"""SDTM export: CDISC SDTM-style domains (DM, EX, AE, QS, LB, VS, DS) as CSV, from the export
tables.

"Style": variable names and codings follow SDTMIG 3.4 for these domains, without controlled
terminology versioning or define.xml. Functional tests (TUG, gait, grip) go to QS with the
questionnaires, labs and cytokines to LB, height, weight and BMI to VS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frailtrial.dataset.csv_writer import write_csv
from frailtrial.edc.services.exports.tidy import ExportTables
from frailtrial.protocol import Protocol

LAB_INSTRUMENTS = ("cytokine", "egfr", "labs", "flow_cytometry", "hematology", "chemistry")
SEVERITY = {
    "mild": "MILD",
    "moderate": "MODERATE",
    "severe": "SEVERE",
    "life_threatening": "LIFE THREATENING",
    "fatal": "FATAL",
}


def _yn(s: pd.Series) -> np.ndarray:
    return np.where(s.astype(bool), "Y", "N")


def _iso(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("")


def _usubjid(ids: pd.Series, study: str) -> pd.Series:
    """STUDYID-SUBJID; on a categorical column only its categories are rewritten."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.rename_categories([f"{study}-{c}" for c in ids.cat.categories])
    return study + "-" + ids.astype(str)


def _findings(
    domain: str, m: pd.DataFrame, labels: dict[str, str], study: str, visitnum: dict[str, int]
) -> pd.DataFrame:
    d = domain
    usubjid = _usubjid(m["participant_id"], study)
    unit = m["unit"].astype(object).where(m["unit"].notna(), "")
    out = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": d,
            "USUBJID": usubjid,
            f"{d}SEQ": usubjid.groupby(usubjid, observed=True, sort=False).cumcount() + 1,
            f"{d}TESTCD": m["variable"].map(lambda v: str(v).upper()[:8]),
            f"{d}TEST": m["variable"].map(labels),
            f"{d}ORRES": m["value"],
            f"{d}ORRESU": unit,
            f"{d}STRESN": m["value"],
            f"{d}STRESU": unit,
            "VISITNUM": m["visit"].map(visitnum),
            "VISIT": m["visit"].map(lambda v: str(v).upper()),
            f"{d}DY": m["day"],
        }
    )
    return out


def write(tables: ExportTables, out: Path, protocol: Protocol) -> list[Path]:
    """Write the seven domains as CSV files under ``out / "sdtm"``."""
    ds = tables.dataset
    extra = tables.extra
    study = protocol.identity.registry_id
    out = out / "sdtm"
    out.mkdir(parents=True, exist_ok=True)
    p = ds.participants
    anchor = extra["anchor"].set_index("participant_id")["anchor"]
    usubjid = study + "-" + p["participant_id"].astype(str)
    dm = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": "DM",
            "USUBJID": usubjid,
            "SUBJID": p["participant_id"],
            "RFSTDTC": _iso(
                pd.Series(anchor.reindex(p["participant_id"].to_numpy()).to_numpy(), index=p.index)
            ),
            "SITEID": p["site"],
            "AGE": p["age"],
            "AGEU": "YEARS",
            "SEX": p["sex"].map({"male": "M", "female": "F"}),
            "RANDDTC": _iso(p["randomized_on"]),
        }
    )
    if "arm" in p:
        labels = {a.name: a.label for a in protocol.arms}
        dm["ARMCD"] = p["arm"].str.upper().str[:20]
        dm["ARM"] = p["arm"].map(labels)
        dm["ACTARMCD"] = p["arm_received"].fillna("NOTTRT").str.upper().str[:20]
        dm["ACTARM"] = p["arm_received"].map(labels).fillna("Not Treated")

    inf = extra["infusions"]
    route = protocol.arms[0].dose.route.upper()
    ex = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": "EX",
            "USUBJID": study + "-" + inf["participant_id"].astype(str),
            "EXSEQ": inf["dose_number"],
            "EXTRT": inf.get("product", "BLINDED STUDY PRODUCT"),
            "EXDOSE": inf.get("cells", np.nan),
            "EXDOSU": "CELLS",
            "EXROUTE": route,
            "EXLOT": inf.get("lot", ""),
            "EXREFID": inf["kit_code"],
            "EXVOL": inf["volume_ml"],
            "EXSTDTC": pd.to_datetime(inf["started_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M"),
            "EXENDTC": pd.to_datetime(inf["ended_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M"),
            "EXSTDY": inf["day"],
        }
    )
    if "cells" not in inf:
        ex = ex.drop(columns=["EXDOSE", "EXDOSU", "EXLOT"])

    a = extra["adverse_events"]
    ae_days = ds.adverse_events
    ae = pd.DataFrame(
        {
            "STUDYID": study,
            "DOMAIN": "AE",
            "USUBJID": study + "-" + a["participant_id"].astype(str),
            "AESEQ": a.groupby("participant_id").cumcount() + 1,
            "AETERM": a["term"],
            "AEDECOD": a["term"],
            "AEBODSYS": a["body_system"],
            "AESEV": a["severity"].map(SEVERITY),
            "AESER": _yn(a["serious"]),
            "AEREL": np.where(a["related"].astype(bool), "RELATED", "NOT RELATED"),
            "AEOUT": a["outcome"].str.upper().str.replace("_", " "),
            "AESTDTC": _iso(a["onset_on"]),
            "AEENDTC": _iso(a["end_on"]),
            "AESTDY": ae_days["onset_day"].to_numpy(),
            "AETRTEM": _yn(a["treatment_emergent"]),
        }
    )

    m = ds.measurements
    instrument = {v.name: v.instrument for v in protocol.variables}
    labels = {v.name: v.label for v in protocol.variables}
    visitnum = {v.name: i + 1 for i, v in enumerate(protocol.visits)}
    is_lab = m["variable"].map(instrument).astype(object).isin(LAB_INSTRUMENTS).to_numpy()
    qs = _findings("QS", m[~is_lab], labels, study, visitnum)
    lb = _findings("LB", m[is_lab], labels, study, visitnum)

    screen = protocol.visits[0].name
    vs_long = pd.concat(
        [
            pd.DataFrame(
                {
                    "participant_id": p["participant_id"],
                    "variable": name,
                    "value": p[col],
                    "unit": unit,
                }
            )
            for name, col, unit in (
                ("height", "height_cm", "cm"),
                ("weight", "weight_kg", "kg"),
                ("bmi", "bmi", "kg/m2"),
            )
        ],
        ignore_index=True,
    ).sort_values("participant_id", kind="stable")
    vs_long["visit"], vs_long["day"] = screen, pd.NA
    vs = _findings(
        "VS", vs_long, {"height": "Height", "weight": "Weight", "bmi": "BMI"}, study, visitnum
    )

    visits = extra["visits"]
    last = protocol.assessment_visits[-1].name
    done = visits[(visits["visit"] == last) & (visits["status"] == "attended")]
    completed = p["participant_id"].isin(done["participant_id"])
    withdrawn = p["withdrawn_on"].notna()
    ds_rand = pd.DataFrame(
        {
            "USUBJID": usubjid,
            "DSCAT": "PROTOCOL MILESTONE",
            "DSDECOD": "RANDOMIZED",
            "DSTERM": "RANDOMIZED",
            "DSSTDTC": _iso(p["randomized_on"]),
        }
    )
    ds_end = pd.DataFrame(
        {
            "USUBJID": usubjid,
            "DSCAT": "DISPOSITION EVENT",
            "DSDECOD": np.where(
                withdrawn, "WITHDRAWAL BY SUBJECT", np.where(completed, "COMPLETED", "ONGOING")
            ),
            "DSTERM": np.where(
                withdrawn,
                p["withdrawal_reason"].fillna(""),
                np.where(completed, "COMPLETED", "ONGOING"),
            ),
            "DSSTDTC": _iso(p["withdrawn_on"]),
        }
    )
    dsd = pd.concat([ds_rand, ds_end]).sort_values("USUBJID", kind="stable")
    dsd.insert(0, "STUDYID", study)
    dsd.insert(1, "DOMAIN", "DS")
    dsd.insert(3, "DSSEQ", dsd.groupby("USUBJID").cumcount() + 1)

    written = []
    for name, frame in (
        ("dm", dm),
        ("ex", ex),
        ("ae", ae),
        ("qs", qs),
        ("lb", lb),
        ("vs", vs),
        ("ds", dsd),
    ):
        path = out / f"{name}.csv"
        write_csv(frame, path)  # pandas' to_csv bytes, a column at a time
        written.append(path)
    return written
