"""Load test: 50 concurrent clients save CRFs through the API of a real server, on SQLite and
on PostgreSQL.

For each backend: builds a trial in a throwaway store (50 randomized participants, visits
held; PostgreSQL: a throwaway server started with initdb/pg_ctl, fsync on), starts
``frailtrial serve`` (gunicorn: 2 workers on SQLite, 4 on PostgreSQL) on 127.0.0.1, and runs N
clients in threads, each with its own token and keep-alive connection, saving its
participant's CRFs (POST /api/crfs). Two phases: with a think time between saves (default
3 s: a fast data-entry clerk), then back to back (no think time; edits on the version saved
last). Bounded in requests per client and in wall time; loopback only.

Prints saves/s and p50/p95/max latency of each phase beside its target (p95 < 100 ms with
think time on both backends; >= 150 saves/s back to back on PostgreSQL), errors, and lost
writes (every 201 answer must be a CRF in the store with the saved answers; the audit chain
must verify). Exit status 1 when a save failed or was lost, or the chain does not verify
(a target not met is printed, as by the other benchmarks).

    PYTHONPATH=src python benchmarks/load_crf.py [--db sqlite,postgresql] [--clients 50]
        [--saves 12] [--think 3]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the web tests' store and server helpers

from edc_support import eligible_input  # noqa: E402
from pg_support import NoPostgres, postgres_server  # noqa: E402
from web_support import start_server  # noqa: E402

INSTRUMENTS = ("tug", "eq5d5l")
VISITS = ("baseline", "week1", "month1", "month2", "month3", "month6")


def _answers(instrument: str, rng: random.Random) -> dict[str, Any]:
    if instrument == "tug":
        return {"tug_s": round(rng.uniform(6, 30), 1)}
    dims = ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression")
    return {**{d: rng.randint(1, 5) for d in dims}, "vas": rng.randint(0, 100)}


def build_store(url: str, n: int) -> tuple[str, list[tuple[str, str]]]:
    """A trial with ``n`` randomized participants whose visits are held; (url, [(pid, token)])."""
    from frailtrial.web.config import setup

    url = setup(url)
    tmp = Path(tempfile.mkdtemp(prefix="frailtrial-list-"))
    from frailtrial.edc.models import ROLES
    from frailtrial.edc.services import randomization, screening, trials, visits
    from frailtrial.protocol import load
    from frailtrial.randomization import generate_list, write_list
    from frailtrial.web.security import issue_token

    protocol = load("huc-msc-2024")
    trial = trials.create_trial(protocol, "load")
    members = {r: trials.add_member(trial, r, r) for r in ROLES}
    path = tmp / "list.csv"
    randomization.import_list(
        members["admin"],
        path,
        write_list(generate_list(protocol, 1 << 128, n + 6), path, protocol.name, "given"),
    )
    out = []
    for i in range(n):
        coord = trials.add_member(trial, f"coord{i}", "coordinator")
        sid = f"L{i:03d}"
        screening.screen(coord, eligible_input(protocol, sid, screened_on="2024-01-02"))
        screening.consent(coord, sid, "1.0", "2024-01-02")
        got = randomization.randomize(coord, sid, "2024-01-03")
        for visit in VISITS:
            # all held on one day: outside most windows, so each carries a deviation reason
            visits.attend(coord, got.participant_id, visit, "2024-01-03", "load test")
        out.append((got.participant_id, issue_token(coord)))
    from django.db import connections

    connections.close_all()
    return url, out


def warm_up(port: int, token: str) -> None:
    """Wait until the workers answer (they load Django after the socket opens)."""
    for _ in range(20):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/api/participants", headers={"Authorization": f"Bearer {token}"})
        conn.getresponse().read()
        conn.close()


def run_clients(
    port: int,
    people: list[tuple[str, str]],
    saves: int,
    think: float,
    limit_s: float,
    versions: dict[tuple[str, str, str], int],
    edits: bool = False,
) -> dict[str, Any]:
    """Each client saves ``saves`` CRFs (distinct visit x instrument, then edits made on the
    version it saved last, kept in ``versions``)."""
    latencies: list[float] = []
    errors: list[str] = []
    saved: list[tuple[str, str, str, dict[str, Any], int]] = []
    lock = threading.Lock()
    stop = time.monotonic() + limit_s
    start = threading.Barrier(len(people))

    def client(k: int, pid: str, token: str) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        slots = [(v, i) for v in VISITS for i in INSTRUMENTS]
        start.wait()
        time.sleep(rng.uniform(0, think))  # ramp-up: clients arrive over one think time
        for n in range(saves):
            if time.monotonic() > stop:
                break
            visit, instrument = slots[n % len(slots)]
            body: dict[str, Any] = {
                "participant_id": pid,
                "visit": visit,
                "instrument": instrument,
                "answers": _answers(instrument, rng),
            }
            if edits or n >= len(slots):
                body["reason"] = "corrected after source check"
                body["version"] = versions[pid, visit, instrument]
            t0 = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/api/crfs",
                    json.dumps(body),
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                payload = resp.read()
                dt_ = time.perf_counter() - t0
                with lock:
                    latencies.append(dt_)
                    if resp.status == 201:
                        version = json.loads(payload)["version"]
                        versions[pid, visit, instrument] = version
                        saved.append((pid, visit, instrument, body["answers"], version))
                    else:
                        errors.append(f"{resp.status} {payload[:120]!r}")
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if think:
                time.sleep(rng.uniform(0.5 * think, 1.5 * think))
        conn.close()

    threads = [
        threading.Thread(target=client, args=(k, pid, tok)) for k, (pid, tok) in enumerate(people)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {
        "requests": len(lat),
        "errors": errors,
        "saved": saved,
        "wall_s": wall,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "max_ms": 1000 * lat[-1] if lat else 0,
        "rate": len(lat) / wall if wall else 0,
    }


def lost_writes(saved: list[tuple[str, str, str, dict[str, Any], int]]) -> int:
    """201 answers whose CRF (latest version per slot) is not in the store as saved."""
    from frailtrial.edc.models import Crf

    latest: dict[tuple[str, str, str], tuple[dict[str, Any], int]] = {}
    for pid, visit, instrument, answers, version in saved:
        key = (pid, visit, instrument)
        if key not in latest or version > latest[key][1]:
            latest[key] = (answers, version)
    stored = {
        (c.participant.participant_id, c.visit, c.instrument): (c.answers, c.version)
        for c in Crf.objects.select_related("participant")
    }
    return sum(1 for key, value in latest.items() if stored.get(key) != value)


def tree_cpu(root: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its live descendants
    (Linux /proc; 0 elsewhere): what the server and the database spent, apart from whatever
    else shares the machine."""
    procs: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for d in Path("/proc").glob("[0-9]*"):
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        procs[int(d.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick)
    total, todo = 0.0, [root] if root else []
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0.0))[1]
        todo += [child for child, (parent, _) in procs.items() if parent == pid]
    return total


def postmaster(url: str) -> int | None:
    """The pid of the PostgreSQL server listening on the URL's port (None: not found)."""
    port = f"-p {url.rsplit(':', 1)[1].split('/')[0]} "
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmd and port in cmd:
            return int(d.name)
    return None


TARGETS = {  # (phase, backend): what the phase must reach (issue 14)
    ("think", "sqlite"): "p95 < 100 ms",
    ("think", "postgresql"): "p95 < 100 ms",
    ("back", "postgresql"): ">= 150 saves/s",
}


def _met(phase: str, result: dict[str, Any]) -> bool:
    if phase == "think":
        return result["p95_ms"] < 100
    return result["rate"] >= 150


def run_backend(backend: str, args: argparse.Namespace) -> bool:
    """Build the store, serve it, run both phases and print their figures beside the targets;
    whether every save succeeded and was kept (no error, no lost write, the chain verifies)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"frailtrial-load-{backend}-"))
    os.environ["FRAILTRIAL_DATA_DIR"] = str(tmp)  # keys of this throwaway store only
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url, workers, threads = f"sqlite:///{tmp / 'load.sqlite3'}", 2, 16
        else:
            # durable like a production server: fsync and synchronous commits stay on
            url = stack.enter_context(postgres_server(options=""))
            workers, threads = 4, 2  # frailtrial serve's defaults on PostgreSQL
        t0 = time.perf_counter()
        url, people = build_store(url, args.clients)
        print(
            f"{backend}: store of {len(people)} participants built in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        proc, port = start_server(url, tmp, workers=workers, threads=threads)
        versions: dict[tuple[str, str, str], int] = {}
        database = postmaster(url) if backend == "postgresql" else None
        results, cpu = {}, {}
        try:
            warm_up(port, people[0][1])
            for phase, think in (("think", args.think), ("back", 0.0)):
                before = tree_cpu(proc.pid), tree_cpu(database), time.process_time()
                results[phase] = run_clients(
                    port, people, args.saves, think, args.limit, versions, phase == "back"
                )
                after = tree_cpu(proc.pid), tree_cpu(database), time.process_time()
                cpu[phase] = [
                    1000 * (b - a) / max(1, results[phase]["requests"])
                    for a, b in zip(before, after, strict=True)
                ]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        from frailtrial.edc.services.audit import verify_chain

        lost = lost_writes(results["think"]["saved"] + results["back"]["saved"])
        chain = verify_chain()
        ok = not lost and chain.ok
        for phase, label in (("think", f"think time {args.think:g} s"), ("back", "back to back")):
            r = results[phase]
            target = TARGETS.get((phase, backend))
            verdict = f"target {target}: {'met' if _met(phase, r) else 'NOT met'}" if target else ""
            ok = ok and not r["errors"]
            print(
                f"{backend} ({workers} workers), {label}: {r['requests']} saves by "
                f"{args.clients} clients in {r['wall_s']:.1f} s = {r['rate']:.0f} saves/s; "
                f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms; "
                f"errors {len(r['errors'])}. {verdict}"
            )
            server, db, clients = cpu[phase]
            print(
                f"  CPU per save: server {server:.1f} ms, database {db:.1f} ms, clients "
                f"{clients:.1f} ms: {2000 / (server + db + clients):.0f} saves/s would fill 2 cores"
            )
            for e in r["errors"][:3]:
                print("  error:", e)
        print(
            f"{backend}: lost writes {lost}; audit chain "
            f"{'verified' if chain.ok else chain.problem} ({chain.rows} rows)"
        )
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sqlite,postgresql", help="backends: sqlite, postgresql")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--saves", type=int, default=12, help="CRF saves per client and phase")
    ap.add_argument("--think", type=float, default=3.0, help="mean think time (s)")
    ap.add_argument("--limit", type=float, default=120.0, help="wall-time bound per phase (s)")
    args = ap.parse_args()
    backends = [b.strip() for b in args.db.split(",")]
    bad = [b for b in backends if b not in ("sqlite", "postgresql")]
    if bad:
        sys.exit(f"--db {args.db}: unknown backend {bad[0]!r}; allowed: sqlite, postgresql")
    ok = True
    for backend in backends:
        try:
            ok = run_backend(backend, args) and ok
        except NoPostgres as exc:
            print(f"{backend}: not run ({exc})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
