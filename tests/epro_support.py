"""Shared helpers of the ePRO tests: made-up wording files (licensed wording is never
shipped, so the tests supply their own), answers, and a participant at a held visit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMAT = "frailtrial-wording/1"

# Made-up EQ-5D-5L-shaped wording: NOT the EuroQol text (that is licensed); only the shape.
_EQ_DIMS = ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression")


def eq5d5l_wording(language: str) -> dict[str, Any]:
    """A made-up 5-level wording of the EQ-5D-5L items (test only)."""
    zh = language == "zh-hans"
    items: list[dict[str, Any]] = []
    for d in _EQ_DIMS:
        name = d.replace("_", " ")
        items.append(
            {
                "id": d,
                "text": f"测试题：今天的{name}" if zh else f"Test item: your {name} today",
                "responses": {
                    str(k): (f"测试等级 {k}" if zh else f"Test level {k}") for k in range(1, 6)
                },
            }
        )
    items.append(
        {
            "id": "vas",
            "text": "测试题：今天的健康分数 (0-100)"
            if zh
            else "Test item: your health today (0-100)",
        }
    )
    return {
        "format": FORMAT,
        "instrument": "eq5d5l",
        "language": language,
        "licence": "made-up test wording, not EuroQol's",
        "title": "测试问卷 EQ" if zh else "Test questionnaire EQ",
        "instructions": "",
        "items": items,
    }


def sf36_zh_wording() -> dict[str, Any]:
    """A made-up zh-hans SF-36 v1-shaped wording (a supplied file takes precedence over the
    shipped RAND-36 zh-Hans wording, as a site's validated translation would)."""
    shipped = Path(__file__).resolve().parents[1] / (
        "src/frailtrial/instruments/data/wording/sf36.en.json"
    )
    en = json.loads(shipped.read_text(encoding="utf-8"))
    items = [
        {
            "id": it["id"],
            "text": f"测试题 {it['id']}",
            "responses": {k: f"选项 {k}" for k in it["responses"]},
        }
        for it in en["items"]
    ]
    return {
        "format": FORMAT,
        "instrument": "sf36",
        "language": "zh-hans",
        "licence": "made-up test wording",
        "title": "测试问卷 SF",
        "instructions": "请回答每个问题。",
        "items": items,
    }


def write_wordings(folder: Path) -> Path:
    """The site's wording folder with the made-up files; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "zh-hans"):
        (folder / f"eq5d5l.{lang}.json").write_text(
            json.dumps(eq5d5l_wording(lang), ensure_ascii=False), encoding="utf-8"
        )
    (folder / "sf36.zh-hans.json").write_text(
        json.dumps(sf36_zh_wording(), ensure_ascii=False), encoding="utf-8"
    )
    return folder


# SF-36 v1 answers with three items left unanswered (the missing-item rules apply).
SF36_ANSWERS: dict[str, int | None] = {
    "1": 3, "2": 2, "3a": 1, "3b": 2, "3c": 2, "3d": 1, "3e": 3, "3f": 2, "3g": 1,
    "3h": None, "3i": 3, "3j": 3, "4a": 1, "4b": 2, "4c": 2, "4d": None, "5a": 2, "5b": 2,
    "5c": 1, "6": 2, "7": 4, "8": 3, "9a": 3, "9b": 5, "9c": 6, "9d": 2, "9e": 4, "9f": 5,
    "9g": 3, "9h": 2, "9i": None, "10": 4, "11a": 4, "11b": 2, "11c": 3, "11d": 2,
}  # fmt: skip
EQ5D_ANSWERS: dict[str, int | None] = {
    "mobility": 2, "self_care": 1, "usual_activities": 3, "pain_discomfort": 2,
    "anxiety_depression": 1, "vas": 65,
}  # fmt: skip


def held_participant(t: dict[str, Any], screening_id: str, visit: str, on: str) -> str:
    """Enrol, dose and hold ``visit`` for a new participant; returns the participant id."""
    from edc_support import dose_first, enroll
    from frailtrial.edc.services import visits

    r = enroll(t, screening_id)
    dose_first(t, r.participant_id)
    visits.attend(t["m"]["coordinator"], r.participant_id, visit, on, reason="ePRO test")
    return str(r.participant_id)
