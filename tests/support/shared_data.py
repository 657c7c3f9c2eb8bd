"""Where ../shared/data lies beside the repository (absent on machines without it: tests skip)."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
