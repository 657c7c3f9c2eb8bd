"""index.html for a batch: one row per video (duration, counts, rates, status) linking to its report.

Made from each video folder's summary.json and CSV files only, like report.html, with relative
links, so the whole output folder can be moved or zipped and still opens from disk.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from realtime.sinks.report import clock, lane_counts, percent
from realtime.sinks.report_page import STYLE

INDEX = "index.html"
KINDS = ("micro", "macro", "blink", "speech", "occlusion", "face lost")


def _status(summary: dict | None, failure: str | None) -> str:
    if failure is not None:
        return f"failed: {failure}"
    if summary is None:
        return "not processed"
    if summary.get("error"):
        return f"partial: {summary['error']}"
    return "finished" if summary.get("complete") else ("interrupted" if summary.get("interrupted") else "incomplete")


def write_index(out_dir: Path, videos: Mapping[str, Path], *, failures: Mapping[str, str] | None = None) -> Path:
    """Write out_dir/index.html: `videos` maps each video's name to its run folder; `failures`
    maps the names of videos that could not be processed to the one-line reason."""
    failures = failures or {}
    rows = []
    for name, folder in videos.items():
        path = folder / "summary.json"
        try:
            summary = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            summary = None
        counts = lane_counts(folder) if summary is not None else {}
        duration = float(summary.get("duration_s") or 0.0) if summary else 0.0
        minutes = duration / 60
        report = folder / "report.html"
        link = (f"<a href='{html.escape(report.relative_to(out_dir).as_posix())}'>{html.escape(name)}</a>"
                if report.is_file() and report.is_relative_to(out_dir) else html.escape(name))
        cells = [f"<td class='l'>{link}</td>", f"<td>{clock(duration) if summary else '-'}</td>"]
        for kind in KINDS:
            n = counts.get(kind)
            cells.append(f"<td>{n if n is not None else '-'}</td>")
        rate = counts.get("micro", 0) / minutes if minutes > 0 else math.nan
        face = float(summary.get("face_found_fraction", math.nan)) if summary else math.nan
        f1 = summary.get("spotting", {}).get("f1") if summary else None
        cells += [f"<td>{rate:.1f}</td>" if math.isfinite(rate) else "<td>-</td>", f"<td>{percent(face)}</td>",
                  f"<td>{f1:.2f}</td>" if isinstance(f1, (int, float)) else "<td>-</td>",
                  f"<td class='l'>{html.escape(_status(summary, failures.get(name)))}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ("<tr><th class='l'>video</th><th>duration</th>" + "".join(f"<th>{k}</th>" for k in KINDS) +
            "<th>micro / min</th><th>face found</th><th>spotting F1</th><th class='l'>status</th></tr>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mer-process results</title>"
            f"<style>{STYLE}</style></head><body><h1>mer-process results: {len(rows)} video(s)</h1>"
            f"<table>{head}{''.join(rows)}</table><p class='note'>Click a video for its report.</p></body></html>")
    out = out_dir / INDEX
    out.write_text(page, encoding="utf-8")
    return out


def batch_folders(out_dir: Path, names: Iterable[str]) -> dict[str, Path]:
    """The run folder of each video name (OUT/<stem>/), in the given order."""
    return {name: out_dir / Path(name).stem for name in names}
