"""Allocation lists: exact ratios per complete block, determinism, strata, commitments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_inprocess import invoke
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, load, parse
from frailtrial.randomization import (
    ListHeader,
    commitment,
    generate_list,
    list_bytes,
    parse_header,
    parse_list,
    read_list,
    rows_bytes,
    verify_list,
    write_list,
)


def _variant(name: str, **randomization: Any) -> Protocol:
    data = load(name).model_dump(mode="json")
    data["randomization"].update(randomization)
    return parse(data, "test")


def _assert_complete_blocks_exact(frame: Any, protocol: Protocol) -> int:
    total_ratio = sum(a.ratio for a in protocol.arms)
    checked = 0
    for (_, _), block in frame.groupby(["stratum", "block"]):
        size = int(block["block_size"].iloc[0])
        if len(block) < size:  # the last block of a list may be cut short
            continue
        counts = block["arm"].value_counts()
        for arm in protocol.arms:
            assert counts.get(arm.name, 0) == arm.ratio * size // total_ratio
        checked += 1
    return checked


@pytest.mark.parametrize("name", ["huc-msc-2024", "cratus-2017"])
def test_every_complete_block_has_the_protocol_ratio(name: str) -> None:
    p = load(name)
    frame = generate_list(p, seed=11, n=100)
    assert len(frame) == 100
    assert _assert_complete_blocks_exact(frame, p) == 100 // p.randomization.block_sizes[0]


def test_random_block_sizes_come_from_the_protocol_and_keep_ratios() -> None:
    p = _variant("huc-msc-2024", scheme="random_permuted_blocks", block_sizes=[2, 4, 6])
    frame = generate_list(p, seed=3, n=300)
    assert set(frame["block_size"]) == {2, 4, 6}
    assert _assert_complete_blocks_exact(frame, p) > 50


def test_unequal_ratio_is_respected() -> None:
    data = load("huc-msc-2024").model_dump(mode="json")
    data["arms"][0]["ratio"] = 2
    p = parse(data, "test")
    frame = generate_list(p, seed=5, n=90)
    assert _assert_complete_blocks_exact(frame, p) == 15
    assert frame["arm"].value_counts().to_dict() == {"mscs": 60, "placebo": 30}


def test_same_seed_same_list_and_different_seeds_differ() -> None:
    p = load("huc-msc-2024")
    a, b, c = (generate_list(p, seed=s, n=60) for s in (42, 42, 43))
    assert a.equals(b)
    assert not a["arm"].equals(c["arm"])


def test_stratified_lists_one_per_stratum_each_balanced() -> None:
    p = _variant("huc-msc-2024", strata=["sex", "hypertension"])
    frame = generate_list(p, seed=9, n=24)
    assert list(frame["stratum"].unique()) == [
        "sex=male|hypertension=no",
        "sex=male|hypertension=yes",
        "sex=female|hypertension=no",
        "sex=female|hypertension=yes",
    ]
    assert len(frame) == 96
    assert frame["randomization_number"].is_unique
    assert list(frame["sequence"]) == list(range(1, 97))
    for _, stratum in frame.groupby("stratum"):
        assert stratum["arm"].value_counts().to_dict() == {"mscs": 12, "placebo": 12}
    # each stratum draws from its own stream: the first stratum's list does not depend on
    # how many strata follow it
    fewer = generate_list(_variant("huc-msc-2024", strata=["sex"]), seed=9, n=24)
    assert list(fewer["arm"][:24]) == list(frame["arm"][:24])


def test_verification_detects_a_one_byte_change(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    digest = write_list(generate_list(load("huc-msc-2024"), seed=1, n=30), path, "x", "weak")
    assert digest == commitment(path)
    verify_list(path, digest)
    data = bytearray(path.read_bytes())
    i = data.index(b"placebo")
    data[i : i + 1] = b"P"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match"):
        verify_list(path, digest)


def test_same_seed_same_entries_but_each_file_its_own_salt(tmp_path: Path) -> None:
    p = load("cratus-2017")
    d1 = write_list(generate_list(p, seed=2, n=30), tmp_path / "a.csv", p.name, "weak")
    d2 = write_list(generate_list(p, seed=2, n=30), tmp_path / "b.csv", p.name, "weak")
    a, b = (read_list(tmp_path / f) for f in ("a.csv", "b.csv"))
    assert a.equals(b)
    ha, hb = (parse_header((tmp_path / f).read_bytes(), f) for f in ("a.csv", "b.csv"))
    assert ha.salt != hb.salt and len(ha.salt) == 32
    assert d1 != d2


def test_a_written_list_reads_back_and_a_wrong_file_is_named(tmp_path: Path) -> None:
    frame = generate_list(_variant("huc-msc-2024", strata=["sex"]), seed=4, n=12)
    path = tmp_path / "list.csv"
    write_list(frame, path, "huc-msc-2024", "weak")
    assert read_list(path).equals(frame)
    assert parse_list(path.read_bytes(), "upload").equals(frame)
    with pytest.raises(InputError, match=r"upload: missing column\(s\) block, block_size"):
        parse_list(b"sequence,stratum,arm,randomization_number\n1,all,mscs,R001\n", "upload")
    with pytest.raises(InputError, match="no such randomization list"):
        read_list(tmp_path / "none.csv")
    with pytest.raises(InputError, match="not a readable CSV"):
        parse_list(b"", "empty.csv")


def test_bad_inputs_are_input_errors() -> None:
    p = load("huc-msc-2024")
    with pytest.raises(InputError):
        generate_list(p, seed=1, n=0)
    with pytest.raises(InputError):
        generate_list(p, seed=-1, n=5)
    with pytest.raises(InputError, match="minimization"):
        generate_list(_variant("huc-msc-2024", scheme="minimization", block_sizes=[]), 1, 5)


def test_cli_generate_prints_the_commitment_of_the_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "list.csv"
    code, stdout, err = invoke(
        monkeypatch, capsys, "randomization", "generate", "--protocol", "huc-msc-2024",
        "--n", "30", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout) == {
        "file": str(out),
        "sha256": commitment(out),
        "n": 30,
        "seed": "secret",
    }
    code, _, err = invoke(
        monkeypatch, capsys, "randomization", "verify", str(out), "--sha256", "0" * 64
    )
    assert code == 2
    assert "does not match" in err
    code, _, err = invoke(
        monkeypatch, capsys, "randomization", "generate", "--protocol", "nope", "--seed", "1",
        "--n", "3", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.startswith("error: ")


@settings(max_examples=25, deadline=None)
@given(
    ratios=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    multiples=st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True),
    n=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_ratios_and_block_sizes_keep_exact_complete_blocks(
    ratios: list[int], multiples: list[int], n: int, seed: int
) -> None:
    data = load("cratus-2017").model_dump(mode="json")
    arms = (data["arms"] * 2)[: len(ratios)]
    data["arms"] = [
        {**arm, "name": f"arm{i}", "ratio": r, "role": "placebo" if i == 0 else "active",
         "dose": data["arms"][2]["dose"] if i == 0 else data["arms"][0]["dose"]}
        for i, (arm, r) in enumerate(zip(arms, ratios, strict=True))
    ]  # fmt: skip
    total = sum(ratios)
    data["randomization"].update(
        scheme="random_permuted_blocks", block_sizes=[m * total for m in multiples]
    )
    p = parse(data, "property")
    frame = generate_list(p, seed=seed, n=n)
    assert len(frame) == n
    _assert_complete_blocks_exact(frame, p)
    assert frame.equals(generate_list(p, seed=seed, n=n))


def test_rows_bytes_is_byte_identical_to_list_bytes() -> None:
    """The EDC rebuilds the committed file from stored tuples without pandas (before every
    allocation); the bytes must be exactly those :func:`list_bytes` wrote, or a sound list
    would be refused as tampered. Covers strata, header or none, and values csv must quote."""
    p = _variant("huc-msc-2024", scheme="random_permuted_blocks", strata=["sex", "hypertension"])
    frame = generate_list(p, seed=2**130 + 7, n=30)
    odd = frame.copy()
    odd.loc[0, "stratum"] = 'a,"b"'
    odd.loc[1, "arm"] = "x y"
    for f in (frame, odd):
        rows = list(f.astype(object).itertuples(index=False, name=None))
        for header in (None, ListHeader(p.name, "given", "ab" * 16)):
            assert rows_bytes(rows, header) == list_bytes(f, header)
