"""No tracked file refers to a path outside the repository (a local shared folder, a home).

Reference data are copied into tests/reference/ with their source noted (its README.md);
code, tests, docs and protocols cite papers and packages, never a folder of one machine.
The patterns are written so that they do not match their own text (``[k]``, ``[.]``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(
    r"/wor[k]/"  # the machine's work folder
    r"|[.][.]/+share[d]\b"  # a relative path climbing out to the shared folder
    r"|\bshare[d]/(?:reference|data|seeds)\b"  # the shared reference, data and seed folders
    r"|\bseeds?[ /_-]?0\d\d\b"  # a seed file of the shared folder (seed, three digits)
    r"|\bDESIG[N][.]md\b|\breference/(?:trials|instruments|stats|rbmi)[.]md\b"  # its documents
    r"|/hom[e]/\w|/User[s]/\w"  # somebody's home folder
)


def outside_paths(text: str) -> list[str]:
    """The lines of ``text`` that name a path outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def test_the_pattern_finds_each_kind_of_outside_path() -> None:
    bad = [
        'SHARED = Path("/wo' + "rk/sha" + 'red/data")',
        "see ..\x2f../sha" + "red/reference/instruments" + ".md",
        "copied from shared" + "/reference/sas_proc_mixed",
        "the paper's tables (seed " + "004)",
        "Tompkins et al. (seeds/" + "000)",
        "/home" + "/alice/trial.csv",
        "as summarised in reference/" + "trials.md",
        "the contract of DESIGN" + ".md",
    ]
    assert [outside_paths(b) for b in bad] == [[b.strip()] for b in bad]
    fine = ["random seed 7", "--seed 1", "tests/reference/fev_data.csv", "seed: 2024"]
    assert outside_paths("\n".join(fine)) == []


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    found = []
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        found += [f"{name}: {line}" for line in outside_paths(data.decode(errors="replace"))]
    assert found == []
