"""No repeated logic worth merging in the product: pylint's duplicate-code over realtime/, training/
and engines/ finds only the pairs listed in KNOWN, each with the reason it stays.

Settings: `--min-similarity-lines=4`, pylint's default: four equal lines are the smallest unit that
is logic rather than one statement wrapped over lines. Import blocks and signatures are ignored
(modules of one package import the same things, and a function that passes its options on
repeats its callee's keyword list), and so are comments and docstrings (pylint's defaults). A new
pair fails the test: merge it, or add it to KNOWN with
the reason it stays. A listed pair that is gone fails too, so the list stays true.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("realtime", "training", "engines")
MIN_LINES = 4

KNOWN: dict[frozenset[str], str] = {}


def _duplicate_pairs() -> set[frozenset[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "pylint", "--disable=all", "--enable=duplicate-code",
         f"--min-similarity-lines={MIN_LINES}", "--ignore-imports=yes", "--ignore-signatures=yes",
         "--score=no", *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Similar lines" in result.stdout or result.returncode == 0, result.stdout + result.stderr
    pairs, current = set(), []
    for line in result.stdout.splitlines():
        match = re.match(r"==([\w.]+):\[\d+:\d+\]", line)
        if match:
            current.append(match.group(1))
        elif current:
            pairs.add(frozenset(current))
            current = []
    return pairs


def test_only_the_known_duplicates_remain() -> None:
    found = _duplicate_pairs()
    new = found - set(KNOWN)
    gone = set(KNOWN) - found
    assert not new, f"repeated code (merge it, or add it to KNOWN with why it stays): {sorted(map(sorted, new))}"
    assert not gone, f"no longer repeated, delete from KNOWN: {sorted(map(sorted, gone))}"
