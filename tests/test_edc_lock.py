"""Database lock: nothing changes after it; unblinding the statistician is an audited step."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edc_support import (
    CELL_TESTS,
    dose_first,
    eligible_input,
    enroll,
    lock_accepting_all,
    new_trial,
    sqlite_url,
    use_store,
)
from frailtrial.edc.errors import AccessDenied, TrialLocked


def test_lock_stops_every_write_and_unblinds_the_statistician_only_after(tmp_path: Path) -> None:
    use_store(sqlite_url(tmp_path))
    from frailtrial.edc.models import AuditEntry, Membership
    from frailtrial.edc.services import (
        crf,
        product,
        randomization,
        safety,
        screening,
        trials,
        unblinding,
        visits,
    )

    t = new_trial()
    m = t["m"]
    coord, pharm, admin, stat = (
        m["coordinator"],
        m["unblinded_pharmacist"],
        m["admin"],
        m["statistician"],
    )
    r = enroll(t, "K1")
    dose_first(t, r.participant_id)
    visits.attend(coord, r.participant_id, "baseline", "2024-03-05")
    screening.screen(coord, eligible_input(t["protocol"], "K2"))
    with pytest.raises(AccessDenied, match="only after the database lock"):
        trials.unblind_statistician(admin, stat, "analysis")
    with pytest.raises(AccessDenied):
        trials.lock(coord, "done")
    lock_accepting_all(admin, "last participant last visit; data clean")
    n_audit = AuditEntry.objects.count()

    pid = r.participant_id
    start = dt.datetime(2024, 4, 5, 9, tzinfo=dt.UTC)
    attempts = [
        lambda: screening.screen(coord, eligible_input(t["protocol"], "K3")),
        lambda: screening.consent(coord, "K2", "1.0", "2024-03-02"),
        lambda: screening.close(coord, "K2", "declined"),
        lambda: randomization.randomize(coord, "K2"),
        lambda: unblinding.emergency_unblind(m["investigator"], pid, "emergency at night"),
        lambda: product.record_lot(
            pharm, "L9", "cells", "2024-01-01", CELL_TESTS, cells_per_ml=1e6
        ),
        lambda: product.prepare(pharm, pid, 2, "C1", 60.0),
        lambda: product.infuse(coord, pid, "KIT-X", start, start, 100.0),
        lambda: visits.attend(coord, pid, "week1", "2024-03-12"),
        lambda: visits.miss(coord, pid, "week1", "ill"),
        lambda: visits.withdraw(coord, pid, "2024-04-01", "moved"),
        lambda: crf.enter_crf(coord, pid, "baseline", "tug", {"tug_s": 9.0}),
        lambda: crf.record_measurements(coord, pid, "baseline", {"grip": 20.0}),
        lambda: safety.report(
            coord, pid, "Fever", "General", "2024-03-06", "mild", False, "recovered"
        ),
        lambda: trials.lock(admin, "again"),
    ]
    for attempt in attempts:
        with pytest.raises(TrialLocked):
            attempt()
    assert AuditEntry.objects.count() == n_audit

    assert randomization.Randomized  # the statistician is still blinded
    with pytest.raises(AccessDenied):
        randomization.arm_of(stat, pid)
    trials.unblind_statistician(admin, stat, "final analysis per SAP v2")
    stat = Membership.objects.get(pk=stat.pk)
    assert randomization.arm_of(stat, pid) in ("mscs", "placebo")
    row = AuditEntry.objects.filter(action="unblind", model="membership").last()
    assert row is not None and row.reason == "final analysis per SAP v2"


def test_lock_and_unblinding_undone_in_the_tables_are_found(tmp_path: Path) -> None:
    """`SET locked_at = NULL` on a locked trial, and the statistician's unblinding erased."""
    use_store(sqlite_url(tmp_path))
    from django.db import connection

    from frailtrial.edc.services import trials, visits
    from frailtrial.edc.services.anchor import anchors_dir
    from frailtrial.edc.services.integrity import verify_store

    t = new_trial()
    m = t["m"]
    r = enroll(t, "L1")
    dose_first(t, r.participant_id)
    visits.attend(m["coordinator"], r.participant_id, "baseline", "2024-03-05")
    lock_accepting_all(m["admin"], "data clean")
    trials.unblind_statistician(m["admin"], m["statistician"], "final analysis")
    assert len(list(anchors_dir().glob("*.json"))) == 2  # lock and unblinding anchor the trail
    assert verify_store().ok

    with connection.cursor() as cur:
        cur.execute("UPDATE edc_trial SET locked_at = NULL WHERE id = %s", (t["trial"].pk,))
        cur.execute(
            "UPDATE edc_membership SET unblinded_for_analysis_at = NULL WHERE id = %s",
            (m["statistician"].pk,),
        )
    found = {(f.table, f.row, f.field) for f in verify_store().findings}
    assert ("edc_trial", str(t["trial"].pk), "locked_at") in found
    assert ("edc_membership", str(m["statistician"].pk), "unblinded_for_analysis_at") in found
