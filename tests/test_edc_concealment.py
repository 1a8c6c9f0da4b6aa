"""Allocation concealment in the store (issue 13), each defence tried as an insider would:
weak lists refused by a live trial, the list re-checked against its commitment at every
allocation (edited rows refused and alerted), minimization from a secret, not the name."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from cli_inprocess import invoke
from edc_support import eligible_input, enroll, new_trial, sqlite_url, use_store
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, load
from frailtrial.randomization import generate_list, write_list
from frailtrial.randomization.minimization import assign

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture()
def store(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    use_store(url)
    return url


def _raw(sql: str, params: tuple = ()) -> None:
    """What an insider with write access to the database does: change rows directly."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(sql, params)


def test_a_live_trial_refuses_a_weak_list_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = sqlite_url(tmp_path)
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "init", "--protocol", "cratus-2017", "--db", db
    )
    assert code == 0, err
    lst = tmp_path / "list.csv"
    code, out, err = invoke(
        monkeypatch, capsys, "randomization", "generate", "--protocol", "cratus-2017",
        "--seed", "7", "--weak-seed", "--n", "30", "--out", str(lst), "--json",
    )  # fmt: skip
    assert code == 0, err
    sha = json.loads(out)["sha256"]
    import_list = partial(
        invoke, monkeypatch, capsys, "edc", "import-list", "--list", str(lst), "--db", db
    )
    code, _, err = import_list("--commitment", sha)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "made from a weak seed (--weak-seed), for rehearsal only" in err
    # a list without the header (as lists were written before: no salt) is refused too
    bare = tmp_path / "bare.csv"
    bare.write_bytes(generate_list(load("cratus-2017"), 1 << 128, 30).to_csv(index=False).encode())
    bare_sha = hashlib.sha256(bare.read_bytes()).hexdigest()
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "import-list", "--list", str(bare), "--db", db,
        "--commitment", bare_sha,
    )  # fmt: skip
    assert code == 2 and "no valid list header" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "import-list", "--list", str(tmp_path / "none.csv"),
        "--db", db, "--commitment", bare_sha,
    )  # fmt: skip
    assert code == 2 and "cannot read" in err and len(err.strip().splitlines()) == 1
    # the same entries from a secret seed are accepted
    code, out, err = invoke(
        monkeypatch, capsys, "randomization", "generate", "--protocol", "cratus-2017",
        "--n", "30", "--out", str(lst), "--json",
    )  # fmt: skip
    code, out, err = import_list("--commitment", json.loads(out)["sha256"])
    assert code == 0 and "30 list entries" in out, err


def test_a_list_of_another_protocol_or_rewritten_by_hand_is_refused(
    store: str, tmp_path: Path
) -> None:
    from frailtrial.edc.services import randomization, trials

    huc = load("huc-msc-2024")
    trial = trials.create_trial(huc, "wrong-list-trial")
    admin = trials.add_member(trial, "admin-wrong-list", "admin")
    path = tmp_path / "l.csv"
    digest = write_list(generate_list(huc, 1 << 128, 10), path, "cratus-2017", "given")
    with pytest.raises(InputError, match="made for protocol 'cratus-2017'"):
        randomization.import_list(admin, path, digest)
    digest = write_list(generate_list(huc, 1 << 128, 10), path, huc.name, "given")
    data = path.read_bytes().replace(b"\n1,", b"\n 1,", 1)  # re-formatted, same numbers
    with pytest.raises(InputError, match="not in the form frailtrial randomization generate"):
        randomization.import_list(admin, data, hashlib.sha256(data).hexdigest())
    assert randomization.import_list(admin, path, digest) == 10


def _alerts() -> list[dict]:
    from frailtrial.edc.models import AuditEntry

    return list(AuditEntry.objects.filter(action="tamper_alert").values("model", "reason", "role"))


def test_rewritten_unused_entries_refuse_the_next_allocation_and_alert(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    from frailtrial.edc.models import ListEntry, Participant
    from frailtrial.edc.services import randomization

    t = new_trial(n_list=20)
    for i in range(2):
        enroll(t, f"T{i}")
    assert _alerts() == []
    # the attack of issue 13: make the next 4 unused entries all 'mscs'
    unused = list(
        ListEntry.objects.filter(trial=t["trial"], used=False)
        .order_by("sequence")
        .values_list("pk", flat=True)[:4]
    )
    for pk in unused:
        _raw("UPDATE edc_listentry SET arm = 'mscs' WHERE id = %s", (pk,))
    before = Participant.objects.filter(trial=t["trial"]).count()
    refused = pytest.raises(randomization.ListTampered, match="does not match its commitment")
    with caplog.at_level(logging.ERROR, logger="frailtrial.edc.alerts"), refused:
        enroll(t, "T2")
    assert Participant.objects.filter(trial=t["trial"]).count() == before
    alerts = _alerts()
    assert len(alerts) == 1 and alerts[0]["model"] == "randomizationlist"
    assert "allocation refused" in alerts[0]["reason"] and alerts[0]["role"] == "coordinator"
    assert any("does not match its commitment" in r.getMessage() for r in caplog.records)


def test_rewriting_the_stored_commitment_as_well_is_still_refused(store: str) -> None:
    """The insider edits the entries and writes their new hash into the list's row: the
    commitment recorded in the audit trail at import no longer agrees."""
    from frailtrial.edc.models import ListEntry, RandomizationList
    from frailtrial.edc.services import randomization
    from frailtrial.randomization import ListHeader, list_bytes
    from frailtrial.randomization.lists import COLUMNS

    t = new_trial(n_list=12)
    enroll(t, "C0")
    entry = ListEntry.objects.filter(trial=t["trial"], used=False).order_by("sequence").first()
    assert entry is not None
    flipped = "placebo" if entry.arm == "mscs" else "mscs"
    _raw("UPDATE edc_listentry SET arm = %s WHERE id = %s", (flipped, entry.pk))
    rlist = RandomizationList.objects.get(trial=t["trial"])
    rows = ListEntry.objects.filter(rlist=rlist).order_by("sequence").values_list(*COLUMNS)
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    forged = hashlib.sha256(
        list_bytes(frame, ListHeader(t["trial"].protocol_name, rlist.seed, rlist.salt))
    ).hexdigest()
    _raw("UPDATE edc_randomizationlist SET sha256 = %s WHERE id = %s", (forged, rlist.pk))
    with pytest.raises(randomization.ListTampered, match="audited"):
        enroll(t, "C1")
    # an untouched list allocates: the check is not what refuses
    t2 = new_trial(n_list=12)
    assert enroll(t2, "D0").randomization_number


def test_rewriting_the_audited_commitment_too_is_refused_by_its_keyed_hash(store: str) -> None:
    """The insider goes further: drops the audit table's guard trigger and writes the forged
    hash into the import's audit row as well. That row's keyed hash no longer holds, and
    allocation is refused at once (not only at the next ``audit verify``)."""
    from frailtrial.edc.models import ListEntry, RandomizationList
    from frailtrial.edc.services import randomization
    from frailtrial.randomization import ListHeader, rows_bytes
    from frailtrial.randomization.lists import COLUMNS

    t = new_trial(n_list=12)
    enroll(t, "E0")
    entry = ListEntry.objects.filter(trial=t["trial"], used=False).order_by("sequence").first()
    assert entry is not None
    flipped = "placebo" if entry.arm == "mscs" else "mscs"
    _raw("UPDATE edc_listentry SET arm = %s WHERE id = %s", (flipped, entry.pk))
    rlist = RandomizationList.objects.get(trial=t["trial"])
    rows = ListEntry.objects.filter(rlist=rlist).order_by("sequence").values_list(*COLUMNS)
    header = ListHeader(t["trial"].protocol_name, rlist.seed, rlist.salt)
    forged = hashlib.sha256(rows_bytes(rows, header)).hexdigest()
    _raw("UPDATE edc_randomizationlist SET sha256 = %s WHERE id = %s", (forged, rlist.pk))
    _raw("DROP TRIGGER IF EXISTS edc_audit_no_update")
    _raw(
        "UPDATE edc_auditentry SET new = replace(new, %s, %s) "
        "WHERE model = 'randomizationlist' AND object_id = %s AND action = 'create'",
        (rlist.sha256, forged, str(rlist.pk)),
    )
    with pytest.raises(randomization.ListTampered, match="audited None"):
        enroll(t, "E1")


def _minimized() -> Protocol:
    base = load("huc-msc-2024")
    return base.model_copy(
        update={
            "randomization": base.randomization.model_copy(
                update={"scheme": "minimization", "block_sizes": [], "strata": ["sex"]}
            )
        }
    )


SEXES = ["female", "male", "female", "female", "male", "male", "female", "male", "female",
         "female", "male", "female", "male", "male", "female", "female", "female", "male",
         "male", "female", "male"]  # fmt: skip


def _replay(seed: int, p: float, n: int, arms: list[str]) -> list[str]:
    """The attacker's replay of the old EDC: numpy seeded [seed, k] at the k-th allocation."""
    out: list[str] = []
    history = [{"sex": s} for s in SEXES]
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        out.append(assign(history[:k], out, history[k], arms, rng, ratios=[1, 1], p=p))
    return out


def test_minimization_cannot_be_replayed_from_the_trial_name(store: str) -> None:
    from frailtrial.edc.models import Allocation, AuditEntry, Trial
    from frailtrial.edc.services import randomization, screening, trials

    proto = _minimized()
    name = "minimized-secret-trial"
    trial = trials.create_trial(proto, name)
    other = trials.create_trial(proto, name + "-2")
    secrets_ = {Trial.objects.get(pk=x.pk).minimization_secret for x in (trial, other)}
    assert len(secrets_) == 2 and all(len(s) == 32 for s in secrets_)
    created = AuditEntry.objects.get(model="trial", object_id=str(trial.pk), action="create")
    assert trial.minimization_secret not in created.new  # the trail does not give it away
    # a fixed secret (as drawn, but the same every run) keeps the counts below deterministic
    Trial.objects.filter(pk=trial.pk).update(minimization_secret="5be1c7e0a94f3d2b8c6e1f7a0d9b4c32")
    coord = trials.add_member(trial, "coord-secret", "coordinator")
    for i, sex in enumerate(SEXES[:20]):
        screening.screen(coord, eligible_input(proto, f"S{i}", sex=sex))
        screening.consent(coord, f"S{i}", "1.0", "2024-03-01")
        randomization.randomize(coord, f"S{i}", "2024-03-02")
    got = list(
        Allocation.objects.filter(participant__trial=trial)
        .order_by("pk")
        .values_list("arm", flat=True)
    )
    # the attack of issue 13: seed from the name's SHA-256, replay with the sexes alone
    name_seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4])
    for p in (0.8, 1.0):
        guess = _replay(name_seed, p, 20, proto.arm_names)
        assert sum(a == b for a, b in zip(got, guess, strict=True)) <= 15
    # nor does any small seed reproduce the sequence
    best = max(
        sum(a == b for a, b in zip(got, _replay(s, 0.8, 20, proto.arm_names), strict=True))
        for s in range(200)
    )
    assert best < 20
    # the replay is the right model: with the trial's own secret it reproduces every arm
    secret = int(Trial.objects.get(pk=trial.pk).minimization_secret, 16)
    assert _replay(secret, 0.8, 20, proto.arm_names) == got


def test_a_list_imported_before_headers_is_rechecked_as_committed(store: str) -> None:
    """A store migrated from before salts: its list row has no seed kind or salt and its
    commitment is the SHA-256 of the bare CSV; allocation re-checks that, and still catches
    an edit. The migration gives such a trial a minimization secret."""
    import importlib

    from django.apps import apps

    from frailtrial.edc.models import ListEntry, RandomizationList, Trial
    from frailtrial.edc.services import audit, randomization, trials
    from frailtrial.randomization import list_bytes

    huc = load("huc-msc-2024")
    trial = trials.create_trial(huc, "legacy-list-trial")
    members = {r: trials.add_member(trial, f"{r}-legacy", r) for r in ("admin", "coordinator")}
    frame = generate_list(huc, 3, 12)
    old_sha = hashlib.sha256(list_bytes(frame, None)).hexdigest()
    rlist = RandomizationList.objects.create(
        trial=trial, sha256=old_sha, source="old.csv", n_entries=12
    )
    ListEntry.objects.bulk_create(
        ListEntry(rlist=rlist, trial=trial, sequence=int(r.sequence), block=int(r.block),
                  block_size=int(r.block_size), stratum=r.stratum, arm=r.arm,
                  randomization_number=r.randomization_number)
        for r in frame.itertuples(index=False)
    )  # fmt: skip
    audit.created(members["admin"], rlist)
    t = {"protocol": huc, "trial": trial, "m": members}
    assert enroll(t, "L0").randomization_number == "R001"
    entry = ListEntry.objects.get(trial=trial, sequence=2)
    _raw(
        "UPDATE edc_listentry SET arm = %s WHERE id = %s",
        ("mscs" if entry.arm == "placebo" else "placebo", entry.pk),
    )
    with pytest.raises(randomization.ListTampered):
        enroll(t, "L1")

    migration = importlib.import_module(
        "frailtrial.edc.migrations.0005_list_salt_minimization_secret"
    )
    Trial.objects.filter(pk=trial.pk).update(minimization_secret="")
    migration.draw_secrets(apps, None)
    assert len(Trial.objects.get(pk=trial.pk).minimization_secret) == 32
