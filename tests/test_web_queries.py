"""Data queries: the monitor raises, the coordinator answers, the monitor closes; each audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


def test_query_lifecycle_is_audited(tmp_path: Path) -> None:
    web_store(tmp_path)
    t = trial_with_data()
    from frailtrial.edc.models import AuditEntry, DataQuery
    from frailtrial.edc.services import audit

    monitor, coord = client(t, "monitor"), client(t, "coordinator")
    monitor.post(f"/queries/raise/{t['crf'].pk}/", {"field": "tug_s", "text": "source says 12.5"})
    q = DataQuery.objects.get(object_id=str(t["crf"].pk))
    assert q.status == "open"
    coord.post(f"/queries/{q.pk}/answer/", {"answer": "corrected on paper"})
    q.refresh_from_db()
    assert (q.status, q.answer, q.answered_by_id) == (
        "answered",
        "corrected on paper",
        t["m"]["coordinator"].pk,
    )
    monitor.post(f"/queries/{q.pk}/close/")
    q.refresh_from_db()
    assert q.status == "closed" and q.closed_at is not None
    reasons = list(
        AuditEntry.objects.filter(object_id=str(q.pk), model__icontains="query")
        .order_by("seq")
        .values_list("reason", flat=True)
    )
    assert reasons[-2:] == ["query answered", "query closed"]
    assert audit.verify_chain().ok


def test_sdv_route_and_dsmb_page_call_the_oversight_service(tmp_path: Path) -> None:
    web_store(tmp_path)
    t = trial_with_data()
    from frailtrial.edc.models import SdvMark
    from frailtrial.edc.services import oversight

    monitor = client(t, "monitor")
    for _ in range(2):
        r = monitor.post(f"/sdv/{t['crf'].pk}/")
        assert r.status_code == 302 and r["Location"].endswith("/crf/tug/")
    assert SdvMark.objects.filter(crf_id=t["crf"].pk).count() == 1
    assert monitor.post("/sdv/999999/").status_code == 403  # no such CRF
    page = client(t, "dsmb").get("/dsmb/").content.decode()
    report = oversight.dsmb_report(t["m"]["dsmb"])
    for key, label in oversight.COUNTS:
        cells = "".join(f'<td class="num">{report.counts[key][a]}</td>' for a in report.arm_names)
        assert f'<th scope="row">{label}</th>{cells}' in page
    assert '<th scope="row">Infections</th>' in page
    assert client(t, "monitor").get("/dsmb/").status_code == 403
