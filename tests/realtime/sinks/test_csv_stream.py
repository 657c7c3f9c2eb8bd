"""CsvStream: the rows csv.DictWriter would write (floats to 6 significant digits, NaN empty), faster."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from realtime.sinks.csv_stream import CsvStream, read_rows


def test_rows_are_what_dictwriter_writes(tmp_path: Path) -> None:
    columns = ["frame", "time_s", "motion_brow", "head_motion", "state"]
    rows = [{"frame": 0, "time_s": 0.0, "motion_brow": 1.23456789, "head_motion": np.float32(0.1), "state": "watching"},
            {"frame": 1, "time_s": 1 / 3, "motion_brow": "", "head_motion": math.nan, "state": "face lost"},
            {"frame": 2, "time_s": np.float64(2e-7), "state": "a, \"quoted\" cell"}]  # missing columns: empty
    with CsvStream(tmp_path / "t.csv", columns) as stream:
        for row in rows:
            stream.write(row)
    with (tmp_path / "want.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if isinstance(v, float | np.floating) and np.isnan(v) else
                             f"{float(v):.6g}" if isinstance(v, float | np.floating) else v for k, v in row.items()})
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "want.csv").read_bytes()
    got = read_rows(tmp_path / "t.csv")
    assert got[0]["motion_brow"] == "1.23457" and got[1]["head_motion"] == "" and got[2]["motion_brow"] == ""


def test_an_unknown_column_is_refused_and_the_rows_before_it_stay(tmp_path: Path) -> None:
    with CsvStream(tmp_path / "t.csv", ["a", "b"]) as stream:
        stream.write({"a": 1, "b": 2})
        with pytest.raises(ValueError, match="no such columns \\['c'\\]"):
            stream.write({"a": 1, "c": 3})
    assert read_rows(tmp_path / "t.csv") == [{"a": "1", "b": "2"}]
