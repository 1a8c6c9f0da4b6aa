"""The column-wise CSV writer writes the same bytes as pandas' ``to_csv`` (the reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frailtrial.dataset.csv_writer import write_csv


def _pandas(frame: pd.DataFrame, path: Path) -> bytes:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path.read_bytes()


def _ours(frame: pd.DataFrame, path: Path) -> bytes:
    write_csv(frame, path)
    return path.read_bytes()


def _every_kind(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    floats = rng.normal(50, 10, n) * 10.0 ** rng.integers(-9, 21, n)
    floats[rng.random(n) < 0.1] = np.nan
    floats[:6] = [0.1, 1 / 3, -0.0, 1e16, 123456789.123, np.inf][: min(6, n)]
    texts = np.array(
        ["plain", "with, comma", 'with "quote"', "two\nlines", "cr\rhere", " space ", "", "ünï"],
        dtype=object,
    )
    pick = rng.integers(0, len(texts), n)
    mixed = texts[pick].copy()
    mixed[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "participant_id": pd.Categorical.from_codes(
                rng.integers(-1, 3, n), ["P-1", "P,2", 'P"3']
            ),
            "visit": pd.Categorical.from_codes(
                rng.integers(0, 2, n), ["baseline", "week1"], ordered=True
            ),
            "day": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(-5, 400, n)), "Int64"),
            "value": floats,
            "flag": pd.array(np.where(rng.random(n) < 0.3, None, rng.random(n) < 0.5), "boolean"),
            "fraction": pd.array(np.where(rng.random(n) < 0.3, None, rng.random(n)), "Float64"),
            "count": rng.integers(0, 10**12, n),
            "yes": rng.random(n) < 0.5,
            "text": mixed,
            "string": pd.array(texts[pick], dtype="string"),
            "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        }
    )


@pytest.mark.parametrize("n", [0, 1, 7, 2_000])
def test_every_column_kind_matches_pandas_byte_for_byte(tmp_path: Path, n: int) -> None:
    frame = _every_kind(n, seed=n)
    assert _ours(frame, tmp_path / "ours.csv") == _pandas(frame, tmp_path / "pandas.csv")


def test_one_column_with_empty_cells_matches_pandas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"reason": ["", "x", None, "y,z"]})
    assert _ours(frame, tmp_path / "ours.csv") == _pandas(frame, tmp_path / "pandas.csv")


def test_rows_beyond_one_chunk_are_all_written_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import frailtrial.dataset.csv_writer as writer

    monkeypatch.setattr(writer, "CHUNK_ROWS", 3)
    frame = _every_kind(10, seed=3)
    assert _ours(frame, tmp_path / "ours.csv") == _pandas(frame, tmp_path / "pandas.csv")
