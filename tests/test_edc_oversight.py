"""The oversight services without the web: queries, SDV marks, the DSMB report by arm, and
who each refuses (edc/services/oversight.py)."""

from __future__ import annotations

from typing import Any

import pytest

from edc_support import (
    dose_first,
    enroll,
    lock_accepting_all,
    new_trial,
    report_sae,
    sqlite_url,
    use_store,
)
from frailtrial.edc.errors import AccessDenied, TrialLocked
from frailtrial.errors import InputError


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store without the web app: four participants dosed, baseline grip 20, 22, 24, 26,
    an SAE for the first and third, the fourth withdrawn; a tug CRF for the first."""
    use_store(sqlite_url(tmp_path_factory.mktemp("oversight")))
    from django.db import transaction

    from frailtrial.edc.models import Site
    from frailtrial.edc.services import audit, crf, trials, visits

    t = new_trial()
    coord = t["m"]["coordinator"]
    pids = []
    for i in range(4):
        pid = enroll(t, f"O{i}").participant_id
        dose_first(t, pid)
        visits.attend(coord, pid, "baseline", "2024-03-05")
        crf.record_measurements(coord, pid, "baseline", {"grip": 20.0 + 2 * i})
        pids.append(pid)
    report_sae(coord, pids[0], "2024-03-06")
    report_sae(coord, pids[2], "2024-03-07", body_system="Cardiac")
    visits.withdraw(coord, pids[3], "2024-03-10", "moved away")
    t["crf"] = crf.enter_crf(coord, pids[0], "baseline", "tug", {"tug_s": 12.0})
    with transaction.atomic():  # a second site, audited as the store's setup does
        other = Site.objects.create(trial=t["trial"], name="Other Hospital", code="OTH")
        audit.created(None, other)
    t["m"]["other_site"] = trials.add_member(
        t["trial"], f"othersite-{t['trial'].name}", "coordinator", site=other
    )
    t["pids"] = pids
    return t


def _audit_rows(model: str, pk: int) -> list[tuple[str, str]]:
    from frailtrial.edc.models import AuditEntry

    rows = AuditEntry.objects.filter(model=model, object_id=str(pk)).order_by("seq")
    return list(rows.values_list("action", "reason"))


def test_query_raised_answered_closed_is_audited_and_verifies(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import oversight
    from frailtrial.edc.services.integrity import verify_store

    monitor, coord = world["m"]["monitor"], world["m"]["coordinator"]
    q = oversight.raise_query(monitor, world["crf"].pk, " tug_s ", "source says 12.5\nplease")
    assert (q.status, q.field, q.model, q.object_id) == (
        "open",
        "tug_s",
        "crf",
        str(world["crf"].pk),
    )
    q = oversight.answer_query(coord, q.pk, "corrected on paper")
    assert (q.status, q.answer, q.answered_by_id) == ("answered", "corrected on paper", coord.pk)
    q = oversight.close_query(world["m"]["admin"], q.pk)
    q.refresh_from_db()
    assert q.status == "closed" and q.closed_at is not None
    assert _audit_rows("dataquery", q.pk) == [
        ("create", ""),
        ("update", "query answered"),
        ("update", "query closed"),
    ]
    report = verify_store()
    assert report.ok, report.problem
    with pytest.raises(InputError, match="must not be closed"):
        oversight.answer_query(coord, q.pk, "too late")


def test_query_roles_sites_and_input_are_checked(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import oversight

    m, crf_id = world["m"], world["crf"].pk
    for role in ("coordinator", "investigator", "dsmb", "statistician"):
        with pytest.raises(AccessDenied, match="raising a query"):
            oversight.raise_query(m[role], crf_id, "tug_s", "why?")
    q = oversight.raise_query(m["monitor"], crf_id, "tug_s", "why?")
    for role in ("monitor", "admin", "dsmb"):
        with pytest.raises(AccessDenied, match="answering a query"):
            oversight.answer_query(m[role], q.pk, "because")
    with pytest.raises(AccessDenied, match="closing a query"):
        oversight.close_query(m["coordinator"], q.pk)
    with pytest.raises(AccessDenied, match="not at your site"):
        oversight.answer_query(m["other_site"], q.pk, "because")
    with pytest.raises(AccessDenied, match="not at your site"):
        oversight.trial_crf(m["other_site"], crf_id)
    for field, text in (("", "why?"), ("tug_s", "  "), ("x" * 81, "why?")):
        with pytest.raises(InputError):
            oversight.raise_query(m["monitor"], crf_id, field, text)
    with pytest.raises(InputError, match="control character"):
        oversight.raise_query(m["monitor"], crf_id, "tug_s", "why\x1b[2J?")
    with pytest.raises(InputError, match="no CRF"):
        oversight.raise_query(m["monitor"], 10**9, "tug_s", "why?")
    with pytest.raises(InputError, match="no query"):
        oversight.close_query(m["monitor"], 10**9)
    with pytest.raises(InputError, match="needs text"):
        oversight.answer_query(m["coordinator"], q.pk, "   ")
    q.refresh_from_db()
    assert q.status == "open"  # nothing refused was written


def test_query_of_another_trial_is_not_found(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import oversight

    other = new_trial()
    q = oversight.raise_query(world["m"]["monitor"], world["crf"].pk, "tug_s", "mine")
    with pytest.raises(InputError, match="no query"):
        oversight.close_query(other["m"]["monitor"], q.pk)
    with pytest.raises(InputError, match="no CRF"):
        oversight.mark_sdv(other["m"]["monitor"], world["crf"].pk)


def test_sdv_marks_a_version_once_and_only_by_the_monitor(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import crf, oversight

    m = world["m"]
    saved = crf.enter_crf(m["coordinator"], world["pids"][1], "baseline", "tug", {"tug_s": 10.0})
    for role in ("admin", "coordinator", "dsmb"):
        with pytest.raises(AccessDenied, match="source data verification"):
            oversight.mark_sdv(m[role], saved.pk)
    first = oversight.mark_sdv(m["monitor"], saved.pk)
    again = oversight.mark_sdv(m["monitor"], saved.pk)
    assert again.pk == first.pk and first.crf_version == saved.version
    assert _audit_rows("sdvmark", first.pk) == [("create", "")]  # the repeat audits nothing
    changed = crf.enter_crf(
        m["coordinator"],
        world["pids"][1],
        "baseline",
        "tug",
        {"tug_s": 10.5},
        reason="re-timed",
        version=saved.version,
    )
    later = oversight.mark_sdv(m["monitor"], changed.pk)
    assert later.pk != first.pk and later.crf_version == saved.version + 1


def test_dsmb_report_counts_and_means_by_arm(world: dict[str, Any]) -> None:
    """Every figure against a hand count from the allocations of the four participants."""
    from frailtrial.edc.models import Allocation
    from frailtrial.edc.services import oversight

    report = oversight.dsmb_report(world["m"]["dsmb"])
    arms = report.arm_names
    assert arms == tuple(world["protocol"].arm_names)
    arm = {
        pid: Allocation.objects.get(participant__participant_id=pid).arm for pid in world["pids"]
    }
    p0, p1, p2, p3 = world["pids"]

    def per_arm(pids: list[str]) -> dict[str, int]:
        return {a: sum(arm[p] == a for p in pids) for a in arms}

    assert report.counts["randomized"] == per_arm(world["pids"])
    assert report.counts["infusions"] == per_arm(world["pids"])  # one dose each
    assert report.counts["withdrawn"] == per_arm([p3])
    assert report.counts["aes"] == report.counts["saes"] == per_arm([p0, p2])
    assert report.counts["related"] == dict.fromkeys(arms, 0)
    assert report.by_system == {"Cardiac": per_arm([p2]), "Infections": per_arm([p0])}
    grip = {p0: 20.0, p1: 22.0, p2: 24.0, p3: 26.0}
    [row] = [r for r in report.outcomes if (r.variable, r.visit) == ("grip", "baseline")]
    for a, cell in zip(arms, row.cells, strict=True):
        values = [g for p, g in grip.items() if arm[p] == a]
        assert cell == ((sum(values) / len(values), len(values)) if values else None)


@pytest.mark.parametrize(
    "role", ["investigator", "coordinator", "outcome_assessor", "monitor", "admin", "statistician"]
)
def test_dsmb_report_is_refused_to_blinded_roles(world: dict[str, Any], role: str) -> None:
    from frailtrial.edc.services import oversight

    with pytest.raises(AccessDenied) as refused:
        oversight.dsmb_report(world["m"][role])
    for a in world["protocol"].arms:  # the refusal names no arm
        assert a.name not in str(refused.value) and a.label not in str(refused.value)


def test_oversight_writes_are_refused_after_the_lock(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import oversight

    t = new_trial()  # another trial of the same store
    lock_accepting_all(t["m"]["admin"], "final analysis")
    with pytest.raises(TrialLocked):
        oversight.raise_query(t["m"]["monitor"], 1, "tug_s", "why?")
    with pytest.raises(TrialLocked):
        oversight.mark_sdv(t["m"]["monitor"], 1)
