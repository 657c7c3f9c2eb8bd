"""report.html: what an analyst reads and checks, built from the files a run wrote.

The report is made only from the output folder (summary.json, events.csv, movements.csv,
frames.csv, events/<event>/: DI pair and replay.mp4), with relative links, so it opens from disk
with no server and no network and can be rebuilt at any time from a finished or interrupted run.
Its script and style are inlined (realtime/sinks/report_page.py); the timeline's data is a JSON
block: per-region motion quantised to one byte per region and bin (1.4 MB for an hour at 30 fps).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.core.frame import DEFAULT_FPS
from realtime.sinks.csv_stream import MOTION_PREFIX, cell_float, read_rows
from realtime.sinks.replay import REPLAY
from realtime.sinks.report_page import SCRIPT, STYLE

DI_PAIR = "di_pair.jpg"  # in events/<event>/
DI_JPEG_QUALITY = 85
DI_SIDE_PX = 224  # each DI in the pair: the crop's own resolution (the PNGs are upscaled 2x)
NO_FACE = 255  # heatmap byte for "no face in this bin"
LANES = (  # kind, lane name, colour
    ("micro", "micro-expr.", "#d62728"),
    ("macro", "macro-expr.", "#ff7f0e"),
    ("blink", "blinks", "#1f77b4"),
    ("speech", "speech", "#2ca02c"),
    ("occlusion", "occlusion", "#8c564b"),
    ("face lost", "face lost", "#7f7f7f"),
)


@dataclass(frozen=True)
class ReportConfig:
    """How the timeline's data is reduced: small enough for an hour, fine enough for one event."""

    max_bin_hz: float = 50.0  # heatmap bins per second at most (a 200 fps video is binned 4:1, each bin its peak)
    max_bins: int = 200_000  # and at most this many bins (an hour at 50 Hz is 180 000)
    heat_percentile: float = 99.5  # motion at this percentile of the run maps to the top colour




def clock(t: float) -> str:
    """Seconds as mm:ss.mmm (hh:mm:ss.mmm past an hour)."""
    if not math.isfinite(t):
        return "-"
    ms = int(round(t * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m:02d}:{s:02d}.{ms:03d}"


def percent(p: float) -> str:
    return "-" if not math.isfinite(p) else f"{100 * p:.0f} %"


def _heat(frames: list[dict[str, str]], regions: list[str], duration: float, config: ReportConfig) -> dict:
    """Per-region motion as (regions x bins) bytes, base64: each bin its peak, NO_FACE where no face."""
    frame_hz = (len(frames) - 1) / duration if duration > 0 and len(frames) > 1 else config.max_bin_hz
    fps_bins = min(config.max_bin_hz, frame_hz, config.max_bins / max(duration, 1e-6))  # no bin without a frame
    bins = max(1, int(math.ceil(duration * fps_bins)) + 1)
    bin_s = max(duration, 1e-6) / (bins - 1) if bins > 1 else 1.0
    heat = np.full((len(regions), bins), -1.0)
    lost = np.zeros(bins, bool)
    if frames:
        t = np.array([cell_float(r["time_s"]) for r in frames])
        index = np.clip(np.round(np.nan_to_num(t) / bin_s).astype(int), 0, bins - 1)
        values = np.array([[cell_float(r.get(f"{MOTION_PREFIX}{g}")) for g in regions] for r in frames]).T  # (R, N)
        found = np.array([r.get("face_found", "1") != "0" for r in frames])
        values[:, ~found] = math.nan
        np.logical_or.at(lost, index[~found], True)
        np.maximum.at(heat, (slice(None), index), np.nan_to_num(values, nan=-1.0))
    finite = heat[heat >= 0]
    top = float(np.percentile(finite, config.heat_percentile)) if finite.size else 1.0
    top = top if top > 0 else 1.0
    scaled = np.where(heat >= 0, np.round(254 * np.log1p(9 * np.clip(heat / top, 0, 1)) / np.log(10)), NO_FACE)
    empty = np.max(heat, axis=0, initial=-1.0) < 0  # (B,) bins that no frame with a face fell in
    scaled[:, lost & empty] = NO_FACE
    scaled[:, ~lost & empty] = 0
    data = scaled.astype(np.uint8)
    return {"bins": bins, "bin_s": bin_s, "top": top, "values": base64.b64encode(data.tobytes()).decode("ascii")}


def _face_lost(frames: list[dict[str, str]]) -> list[tuple[float, float, int]]:
    """Runs of frames without a face: (start s, end s, first frame)."""
    runs, start = [], None
    for row in frames:
        lost = row.get("face_found", "1") == "0"
        if lost and start is None:
            start = row
        if not lost and start is not None:
            runs.append((cell_float(start["time_s"]), cell_float(row["time_s"]), int(cell_float(start["frame"]))))
            start = None
    if start is not None:
        runs.append((cell_float(start["time_s"]), cell_float(frames[-1]["time_s"]), int(cell_float(start["frame"]))))
    return runs


def _lanes(events: list[dict[str, str]], movements: list[dict[str, str]],
           frames: list[dict[str, str]]) -> list[dict]:
    items: dict[str, list] = {kind: [] for kind, _, _ in LANES}
    for row in events:
        items["micro"].append([cell_float(row["onset_s"]), cell_float(row["offset_s"]), int(cell_float(row["onset_frame"])),
                               f"{row['event']} {row.get('label') or ''}".strip()])
    for row in movements:
        kind = row.get("kind")
        if kind == "occlusion" and row.get("reason") == "face lost":
            continue  # face lost comes from frames.csv, frame by frame
        if kind in items:
            items[kind].append([cell_float(row["onset_s"]), cell_float(row["offset_s"]), int(cell_float(row["onset_frame"])), ""])
    items["face lost"] = [[a, b, f, ""] for a, b, f in _face_lost(frames)]
    return [{"kind": kind, "name": name, "colour": colour, "items": items[kind]} for kind, name, colour in LANES]


def lane_counts(run_dir: Path) -> dict[str, int]:
    """How many of each kind (micro, macro, blink, speech, occlusion, face lost) a run folder holds."""
    lanes = _lanes(read_rows(run_dir / "events.csv"), read_rows(run_dir / "movements.csv"),
                   read_rows(run_dir / "frames.csv"))
    return {lane["kind"]: len(lane["items"]) for lane in lanes}


def _video(run_dir: Path, summary: dict) -> tuple[str | None, bool]:
    """The video the player shows, relative to the report, and whether it has one frame per
    source frame (annotated.mp4, a live recording) rather than the source's own times."""
    if (run_dir / "annotated.mp4").is_file():
        return "annotated.mp4", True
    for key, by_frame in (("recording", True), ("source", False)):
        path = summary.get(key)
        if path and Path(path).is_file():
            return Path(os.path.relpath(Path(path).resolve(), run_dir.resolve())).as_posix(), by_frame
    return None, False


def _face_share(summary: dict, frames: list[dict[str, str]]) -> float:
    """The summary's face-found share, else frames.csv's (a run stopped before its summary)."""
    if "face_found_fraction" in summary:
        return cell_float(summary["face_found_fraction"])
    return sum(r.get("face_found") != "0" for r in frames) / len(frames) if frames else math.nan


def _json(data: dict) -> str:
    """JSON safe inside <script>: NaN and infinities (not JSON: JSON.parse would stop the page) as null,
    no "</" (would end the script element)."""
    return json.dumps(_finite(data), separators=(",", ":"), default=str, allow_nan=False).replace("</", "<\\/")


def _finite(value: object) -> object:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _fact(value: str, caption: str) -> str:
    return f"<div class='fact'><b>{html.escape(value)}</b><span>{html.escape(caption)}</span></div>"


def _top_classes(row: dict[str, str], k: int = 3) -> list[tuple[str, float]]:
    probs = [(c[len("prob_"):], cell_float(v)) for c, v in row.items() if c.startswith("prob_") and math.isfinite(cell_float(v))]
    return sorted(probs, key=lambda p: -p[1])[:k]


def _di_pair(folder: Path) -> bool:
    """events/<n>/di_pair.jpg: the two DI PNGs side by side as one JPEG (~50 KB against ~500 KB
    for the PNGs, which keeps an hour's report within its size budget); False without DIs."""
    pngs = [folder / "di_onset.png", folder / "di_offset.png"]
    out = folder / DI_PAIR
    if not all(p.is_file() for p in pngs):
        return False
    if not out.is_file() or out.stat().st_mtime < max(p.stat().st_mtime for p in pngs):
        images = [cv2.imread(str(p)) for p in pngs]
        if any(i is None or i.shape != images[0].shape for i in images):
            return False
        images = [cv2.resize(i, (DI_SIDE_PX, DI_SIDE_PX), interpolation=cv2.INTER_AREA) for i in images]
        gap = np.full((images[0].shape[0], 8, 3), 255, np.uint8)
        cv2.imwrite(str(out), np.hstack([images[0], gap, images[1]]), [cv2.IMWRITE_JPEG_QUALITY, DI_JPEG_QUALITY])
    return True


def _event_card(run_dir: Path, row: dict[str, str], labelled: bool, model: str) -> str:
    event = row["event"]
    folder = f"events/{event}"
    onset, offset = cell_float(row["onset_s"]), cell_float(row["offset_s"])
    head = (f"<b>Event {html.escape(event)}</b> <a class='seek' data-frame='{int(cell_float(row['onset_frame']))}' "
            f"data-t='{onset}'>{clock(onset)}</a> - {clock(offset)} ({cell_float(row['duration_ms']):.0f} ms)")
    if labelled and row.get("label"):
        top = ", ".join(f"{html.escape(c)} {percent(p)}" for c, p in _top_classes(row))
        head += (f": <b>{html.escape(row['label'])}</b> {percent(cell_float(row.get('confidence')))}"
                 f"<br><span class='note'>top three: {top}. Classifier: {html.escape(model)}</span>")
    elif labelled:
        head += ": <i>no label</i> (the classifier gave none for this event)"
    parts = [f"<div class='event' id='event-{html.escape(event)}'>{head}<br>"]
    if (run_dir / folder / REPLAY).is_file():
        parts.append(f"<figure><video class='replay' src='{folder}/{REPLAY}' muted loop playsinline preload='none' "
                     f"width='448' height='242'></video><figcaption>left: as recorded, the regions that moved "
                     "outlined; right: motion magnified; both at 1/4 speed, from 0.2 s before onset to 0.2 s "
                     "after offset</figcaption></figure>")
    if _di_pair(run_dir / folder):
        parts.append(
            f"<figure><img class='di' loading='lazy' src='{folder}/{DI_PAIR}' alt='DI pair of event "
            f"{html.escape(event)}'><div class='dibar'></div><div class='dilabels'><span>got darker</span>"
            "<span>no change</span><span>got brighter</span></div><figcaption>DI-Onset (onset to apex) | DI-Offset "
            "(apex to offset): the dynamic images the classifier sees</figcaption></figure>")
    parts.append("</div>")
    return "".join(parts)


def write_report(run_dir: str | Path, config: ReportConfig = ReportConfig()) -> Path:
    """Write run_dir/report.html from the files in run_dir and return its path."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    events = read_rows(run_dir / "events.csv")
    movements = read_rows(run_dir / "movements.csv")
    frames = read_rows(run_dir / "frames.csv")
    regions = [c[len(MOTION_PREFIX):] for c in (frames[0] if frames else {}) if c.startswith(MOTION_PREFIX)]
    times = [cell_float(r["time_s"]) for r in frames]
    duration = max([t for t in times if math.isfinite(t)] or [cell_float(summary.get("duration_s")) if
                                                               summary.get("duration_s") else 0.0])
    fps = cell_float(summary.get("fps"))
    if not math.isfinite(fps) or fps <= 0:
        fps = (len(frames) - 1) / duration if duration > 0 and len(frames) > 1 else DEFAULT_FPS
    engine = summary.get("engine", {})
    model = str(engine.get("description") or "no classifier (spotting only)")
    labelled = bool(engine.get("classes")) or any(r.get("label") for r in events)
    video, by_frame = _video(run_dir, summary)
    lanes = _lanes(events, movements, frames)
    data = {"duration_s": duration, "fps": fps, "regions": regions, "video_by_frame": by_frame,
            "heat": _heat(frames, regions, duration, config), "lanes": lanes}

    source = Path(str(summary.get("source", run_dir.name))).name
    title = f"Micro-expressions in {source}"
    minutes = duration / 60 if duration > 0 else math.nan
    count = {lane["kind"]: len(lane["items"]) for lane in lanes}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p id='missing'></p>"]
    status = "complete" if summary.get("complete") else ("interrupted" if summary.get("interrupted") else "incomplete")
    if summary.get("error"):
        status = f"stopped: {summary['error']}"
    parts.append("<div class='facts'>" + "".join([
        _fact(clock(duration), f"duration ({status})"),
        _fact(f"{count['micro']}", f"micro-expressions ({count['micro'] / minutes:.1f}/min)" if minutes > 0 else
              "micro-expressions"),
        *(_fact(str(count[k]), f"{name} ({count[k] / minutes:.1f}/min)" if minutes > 0 else name)
          for k, name, _ in LANES[1:]),
        _fact(percent(_face_share(summary, frames)), "of frames with a face"),
        *([_fact(f"{cell_float(summary['spotting'].get('f1')):.2f}",
                 f"spotting F1 (precision {percent(cell_float(summary['spotting'].get('precision')))}, recall "
                 f"{percent(cell_float(summary['spotting'].get('recall')))})")] if summary.get("spotting") else []),
    ]) + "</div>")
    if labelled:
        parts.append(f"<p class='note'>Classifier: <b>{html.escape(model)}</b>. Micro-expressions are brief "
                     "involuntary facial movements; they are evidence of a felt emotion, not of deception. Check "
                     "every label against its magnified replay and dynamic images below.</p>")
    else:
        parts.append("<p class='warn'>Spotting only: no classifier was run, so there are no labels. The events below "
                     "are where the face made a brief movement; the replays show what moved.</p>")
    if video:
        parts.append(f"<video id='player' controls preload='auto' src='{html.escape(video)}'></video>"
                     f"<p class='note'>Video: <a href='{html.escape(video)}'>{html.escape(video)}</a></p>")
    else:
        parts.append("<p class='note'>No video to show (neither annotated.mp4 nor the source is reachable).</p>")
    parts.append(
        "<div class='controls'><button id='zoom-in'>zoom in</button><button id='zoom-out'>zoom out</button>"
        "<button id='zoom-all'>whole video</button> <span class='note'>wheel: zoom, drag: pan, click: seek. "
        "Showing <span id='view'></span></span></div><canvas id='timeline'></canvas>"
        "<div class='legend'><span>motion per region (aligned px/s):</span><span>0"
        "<span class='heatbar' style='background:linear-gradient(90deg,#440154,#3b528b,#21918c,#5ec962,#fde725)'>"
        f"</span>{data['heat']['top']:.0f}+ (log scale)</span>"
        "<span><span class='swatch' style='background:#c8c8c8'></span>no face</span>" +
        "".join(f"<span><span class='swatch' style='background:{c}'></span>{html.escape(n)}</span>" for _, n, c in LANES)
        + "</div>")
    parts.append("<h2>Micro-expressions</h2>")
    if events:
        head = "<tr><th>event</th><th>onset</th><th>apex</th><th>duration</th>" + (
            "<th class='l'>label</th><th>confidence</th>" if labelled else "") + "</tr>"
        rows = "".join(
            f"<tr class='ev' id='event-row-{html.escape(r['event'])}' data-frame='{int(cell_float(r['onset_frame']))}' "
            f"data-t='{cell_float(r['onset_s'])}'><td>{html.escape(r['event'])}</td><td>{clock(cell_float(r['onset_s']))}</td>"
            f"<td>{clock(cell_float(r['apex_s']))}</td><td>{cell_float(r['duration_ms']):.0f} ms</td>" +
            (f"<td class='l'>{html.escape(r.get('label') or '-')}</td><td>{percent(cell_float(r.get('confidence')))}</td>"
             if labelled else "") + "</tr>" for r in events)
        parts.append(f"<table>{head}{rows}</table><p class='note'>Click a row to see its onset in the video.</p>")
        parts.extend(_event_card(run_dir, r, labelled, model) for r in events)
    else:
        parts.append("<p class='note'>None found.</p>")
    if summary.get("config"):
        parts.append("<details><summary>Run configuration</summary><pre>" +
                     html.escape(json.dumps(summary["config"], indent=1)) + "</pre></details>")
    parts.append(f"<script id='mer-data' type='application/json'>{_json(data)}</script>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    out = run_dir / "report.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
