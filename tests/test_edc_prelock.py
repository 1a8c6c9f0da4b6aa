"""The pre-lock checklist: the lock is refused (one line naming each item) while an SAE is
not acknowledged, a query is open, a planned CRF is missing or a date lies after the lock
date, unless each item is accepted with a reason (audited); the CLI obeys the same rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cli_inprocess import invoke
from edc_support import dose_first, enroll, new_trial, report_sae, sqlite_url, use_store
from frailtrial.errors import InputError

TUG = {"tug_s": 11.0}


@pytest.fixture()
def t(tmp_path: Path) -> dict[str, Any]:
    """A trial with one of each blocker: an SAE, an open query, missing CRFs at week 1."""
    url = sqlite_url(tmp_path)
    use_store(url)
    from frailtrial.edc.services import crf, oversight, visits

    t = new_trial()
    m = t["m"]
    pid = enroll(t, "B1").participant_id
    dose_first(t, pid)
    visits.attend(m["coordinator"], pid, "week1", "2024-03-12")
    saved = crf.enter_crf(m["coordinator"], pid, "week1", "tug", TUG)
    t.update(
        url=url,
        pid=pid,
        ae=report_sae(m["coordinator"], pid, "2024-03-20"),
        query=oversight.raise_query(m["monitor"], saved.pk, "tug_s", "please check"),
    )
    return t


def _planned(t: dict[str, Any], visit: str) -> list[str]:
    from frailtrial.edc import collection

    return [form.name for form in collection.forms_at(t["protocol"], visit)]


def test_lock_is_refused_naming_every_item_until_settled_or_accepted(t: dict[str, Any]) -> None:
    from frailtrial.edc.models import AuditEntry, LockException, Trial
    from frailtrial.edc.services import oversight, safety, trials
    from frailtrial.edc.services.integrity import verify_store

    admin = t["m"]["admin"]
    missing = [f"crf:{t['pid']}/week1/{name}" for name in _planned(t, "week1") if name != "tug"]
    assert missing  # the protocol plans more than the TUG at week 1
    with pytest.raises(InputError) as refused:
        trials.lock(admin, "final")
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"lock refused: {len(missing) + 2} ")
    for key in [f"sae:{t['ae'].pk}", f"query:{t['query'].pk}", *missing]:
        assert key in line
    # settling: the SAE acknowledged, the query closed; the CRFs are accepted with reasons
    safety.acknowledge(t["m"]["medical_monitor"], t["ae"].pk)
    oversight.close_query(t["m"]["monitor"], t["query"].pk)
    partly = {key: "form not done at this site" for key in missing[1:]}
    with pytest.raises(InputError, match=rf"lock refused: 1 .*{missing[0]}"):
        trials.lock(admin, "final", partly)
    assert not LockException.objects.exists()  # a refused lock keeps no acceptance
    with pytest.raises(InputError, match="needs a reason"):
        trials.lock(admin, "final", {**partly, missing[0]: "  "})
    with pytest.raises(InputError, match="'crf:nobody' is not on the pre-lock checklist"):
        trials.lock(admin, "final", {"crf:nobody": "why"})
    trials.lock(admin, "final", {**partly, missing[0]: "participant too tired"})
    assert Trial.objects.get(pk=t["trial"].pk).locked_at is not None
    kept = {e.key: e.reason for e in LockException.objects.all()}
    assert kept[missing[0]] == "participant too tired" and len(kept) == len(missing)
    audited = AuditEntry.objects.filter(model="lockexception", action="accept")
    assert sorted(audited.values_list("reason", flat=True)) == sorted(kept.values())
    assert verify_store().ok


def test_dates_after_the_lock_date_block(t: dict[str, Any]) -> None:
    from frailtrial.edc.services import prelock

    admin = t["m"]["admin"]
    items = prelock.blockers(admin, dt.date(2024, 3, 15))
    dated = {b.key: b.text for b in items if b.kind == "date"}
    ae, visit = t["ae"], t["ae"].participant.visits.get(visit="week1")
    assert f"date:adverseevent:{ae.pk}:onset_on" in dated  # onset 2024-03-20
    assert f"date:visitoccurrence:{visit.pk}:occurred_on" not in dated  # held 2024-03-12
    assert (
        "dated 2024-03-20, after the lock date 2024-03-15"
        in dated[f"date:adverseevent:{ae.pk}:onset_on"]
    )
    assert not [b for b in prelock.blockers(admin, dt.date.today()) if b.kind == "date"]


def test_cli_lock_exits_2_with_one_line_then_locks_with_accepted_items(
    t: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from frailtrial.edc.services import prelock

    items = prelock.open_blockers(t["m"]["admin"], dt.date.today())
    db = t["url"]
    code, _, err = invoke(monkeypatch, capsys, "edc", "lock", "--reason", "final", "--db", db)
    assert code == 2 and err.count("\n") == 1 and "lock refused" in err
    assert all(b.key in err for b in items)
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "lock", "--reason", "final", "--db", db, "--accept", "sae:1"
    )
    assert code == 2 and "expected KEY=REASON" in err
    accepts = [a for b in items for a in ("--accept", f"{b.key}=accepted at review")]
    code, out, err = invoke(
        monkeypatch, capsys, "edc", "lock", "--reason", "final", "--db", db, *accepts
    )
    assert code == 0 and "locked" in out, err
    code, out, _ = invoke(monkeypatch, capsys, "audit", "verify", "--db", db, "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_an_incomplete_crf_blocks_the_lock_with_its_empty_items(t: dict[str, Any]) -> None:
    """A saved but partial form is not done: the checklist names it (by the participant, the
    visit's label and the form's title, as people read them) and its empty items."""
    from frailtrial.edc import collection
    from frailtrial.edc.services import crf, prelock

    coord, admin = t["m"]["coordinator"], t["m"]["admin"]
    week1 = _planned(t, "week1")
    partial = next(name for name in week1 if name != "tug")
    crf.enter_crf(coord, t["pid"], "week1", partial, {})
    items = {b.key: b.text for b in prelock.blockers(admin, dt.date(2030, 1, 1))}
    key = f"crf:{t['pid']}/week1/{partial}"
    title = collection.form_at(t["protocol"], "week1", partial).title
    label = next(v.label for v in t["protocol"].visits if v.name == "week1")
    assert label != "week1" and title != partial
    assert items[key].startswith(f"CRF incomplete: {t['pid']}, {label}, {title} (empty: ")
    crf.enter_crf(coord, t["pid"], "week1", "tug", {}, reason="cleared in error", version=1)
    items = {b.key: b.text for b in prelock.blockers(admin, dt.date(2030, 1, 1))}
    assert items[f"crf:{t['pid']}/week1/tug"].startswith("CRF incomplete:")  # was complete
