"""Concurrent allocation and crash safety of the store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edc_support import eligible_input, enroll, new_trial, sqlite_url, use_store

N = 200
BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)


def _store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh store of the backend, made current; its URL."""
    url = sqlite_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    use_store(url)
    return url


def _prepare(t: dict, n: int) -> list[str]:
    from frailtrial.edc.services import screening

    coord = t["m"]["coordinator"]
    ids = [f"C{i:04d}" for i in range(n)]
    for sid in ids:
        screening.screen(coord, eligible_input(t["protocol"], sid))
        screening.consent(coord, sid, "1.0", "2024-03-01")
    return ids


@pytest.mark.slow
@BACKENDS
def test_200_concurrent_randomizations_get_distinct_entries_in_list_order(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _store(backend, tmp_path, request)
    from django.db import connections

    from frailtrial.edc.models import Allocation
    from frailtrial.edc.services import randomization
    from frailtrial.edc.services.audit import verify_chain

    t = new_trial(n_list=N + 20, seed=11)
    ids = _prepare(t, N)
    coord = t["m"]["coordinator"]

    def one(sid: str) -> str:
        try:
            return randomization.randomize(coord, sid, "2024-03-02").randomization_number
        finally:
            connections.close_all()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        numbers = list(pool.map(one, ids))
    elapsed = time.perf_counter() - start
    print(f"{backend}: {N} concurrent randomizations in {elapsed:.2f} s")

    allocs = list(
        Allocation.objects.filter(participant__trial=t["trial"])
        .order_by("pk")
        .values_list("entry__sequence", "entry__randomization_number", "arm", "entry__arm")
    )
    sequences = [a[0] for a in allocs]
    listed = t["list"]
    assert len(allocs) == N
    assert len(set(numbers)) == N
    # the first N entries of the list, each once, taken in list order
    assert sequences == sorted(sequences)
    assert sequences == listed["sequence"].iloc[:N].tolist()
    assert sorted(numbers) == sorted(listed["randomization_number"].iloc[:N])
    assert [a[2] for a in allocs] == listed["arm"].iloc[:N].tolist()
    assert all(a[2] == a[3] for a in allocs)
    assert verify_chain().ok


CHILD = textwrap.dedent(
    """
    import sys
    from frailtrial.edc import setup
    setup(sys.argv[1])
    from frailtrial.edc.services import screening, trials
    from edc_support import eligible_input
    coord = trials.find_member(sys.argv[2], None, "coordinator")
    protocol = __import__("frailtrial.protocol", fromlist=["load"]).load("huc-msc-2024")
    i = 0
    while True:
        sid = f"K{i:05d}"
        screening.screen(coord, eligible_input(protocol, sid))
        print(sid, flush=True)
        i += 1
    """
)


@pytest.mark.slow
@BACKENDS
def test_kill_during_writes_loses_no_committed_record(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _store(backend, tmp_path, request)
    from django.db import connections

    from frailtrial.edc.models import Screening
    from frailtrial.edc.services.audit import verify_chain

    t = new_trial()
    connections.close_all()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, t["trial"].name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    committed: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        committed.append(line.strip())
        if len(committed) == 40:
            child.send_signal(signal.SIGKILL)  # mid-way through the next write
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    stored = set(Screening.objects.filter(trial=t["trial"]).values_list("screening_id", flat=True))
    assert set(committed) <= stored
    assert len(stored) - len(committed) <= 1  # at most the one whose print was cut off
    report = verify_chain()
    assert report.ok, report.problem


@pytest.mark.slow
@BACKENDS
def test_concurrent_crf_saves_keep_the_audit_chain_whole(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Many CRF saves and edits at once, each in its own thread and connection: every save
    is kept, and the audit trail stays one gap-free chain that verifies."""
    _store(backend, tmp_path, request)
    from django.db import connections

    from frailtrial.edc.errors import Conflict
    from frailtrial.edc.models import AuditEntry, AuditHead, Crf
    from frailtrial.edc.services import crf, visits
    from frailtrial.edc.services.audit import verify_chain

    t = new_trial()
    coord = t["m"]["coordinator"]
    pids = [enroll(t, f"W{i:03d}").participant_id for i in range(4)]
    for pid in pids:
        visits.attend(coord, pid, "baseline", "2024-03-02", "held on the day of randomization")
    before = AuditEntry.objects.count()
    jobs = [(pid, s) for pid in pids for s in range(12)]  # the first save, then 11 edits each

    def one(job: tuple[str, int]) -> int:
        pid, s = job
        try:
            for _ in range(50):  # an edit on a version another thread changed: read, retry
                try:
                    version = (
                        Crf.objects.filter(
                            participant__trial=t["trial"],  # ids repeat across trials
                            participant__participant_id=pid,
                            visit="baseline",
                        )
                        .values_list("version", flat=True)
                        .first()
                    )
                    saved = crf.enter_crf(
                        coord,
                        pid,
                        "baseline",
                        "tug",
                        {"tug_s": 10.0 + s},
                        reason=f"re-timed {s}",  # ignored by the first save
                        version=version,
                    )
                    return saved.version
                except Conflict:
                    time.sleep(0.01)
            raise AssertionError(f"{pid} save {s} kept conflicting")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=16) as pool:
        versions = list(pool.map(one, jobs))

    assert sorted(versions) == sorted(list(range(1, 13)) * len(pids))  # no save lost
    mine = Crf.objects.filter(participant__trial=t["trial"], participant__participant_id__in=pids)
    assert all(c.version == 12 for c in mine)
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # contiguous, none skipped or doubled
    assert len(seqs) - before == 2 * len(jobs)  # a CRF row and its tug measurement per save
    assert AuditHead.objects.get(pk=1).seq == len(seqs)
    report = verify_chain()
    assert report.ok and report.rows == len(seqs), report.problem
