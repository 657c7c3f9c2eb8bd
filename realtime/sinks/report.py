"""report.html: what an analyst reads and checks, built from the files a run wrote.

The report is made only from the output folder (summary.json, events.csv, movements.csv,
timeline.png, events/<event>/*.png), with relative links, so it opens from disk with no
server and no network, and it can be rebuilt at any time from a finished or interrupted run.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

EVIDENCE_IMAGES = (  # file name in events/<event>/, caption
    ("onset.png", "onset"),
    ("apex.png", "apex"),
    ("offset.png", "offset"),
    ("di_onset.png", "DI-Onset"),
    ("di_offset.png", "DI-Offset"),
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
.note { color: #555; font-size: 13px; max-width: 900px; }
.event { border: 1px solid #ddd; border-radius: 6px; padding: 10px; margin: 12px 0; }
.event figure { display: inline-block; margin: 4px 8px 4px 0; text-align: center; }
.event img { width: 160px; height: 160px; image-rendering: pixelated; border: 1px solid #bbb; }
figcaption { font-size: 12px; color: #444; }
img.timeline { max-width: 100%; border: 1px solid #ddd; }
#missing { display: none; background: #fdd; border: 1px solid #c00; padding: 8px; }
"""

# Tells the reader when evidence images are missing (a report copied without its events/
# folder), and records on <body> how many images loaded, which the tests read.
_IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + images.length);
  if (ok < images.length) {
    var box = document.getElementById("missing");
    box.textContent = (images.length - ok) + " of " + images.length +
      " images could not be loaded: keep report.html next to timeline.png and the events/ folder.";
    box.style.display = "block";
  }
});
</script>"""


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _table(rows: list[dict[str, str]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(run_dir: str | Path) -> Path:
    """Write run_dir/report.html from the files in run_dir and return its path."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    events = _read_csv(run_dir / "events.csv")
    movements = _read_csv(run_dir / "movements.csv")
    title = f"Micro-expressions in {summary.get('source', run_dir.name)}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style>{_IMAGE_CHECK}</head><body><h1>{html.escape(title)}</h1>",
             "<p id='missing'></p>"]
    model = summary.get("engine", {}).get("description", "no classifier (spotting only)")
    parts.append(
        "<p class='note'>"
        f"{len(events)} micro-expression(s), {len(movements)} other movement(s). "
        f"Classifier: {html.escape(str(model))}. Micro-expressions are brief involuntary facial movements; "
        "they are evidence of a felt emotion, not of deception. Check every label against the images below.</p>")
    facts = {k: summary[k] for k in ("frames", "duration_s", "fps", "face_found_fraction", "complete") if k in summary}
    if facts:
        parts.append(_table([{k: str(v) for k, v in facts.items()}], list(facts)))
    if (run_dir / "timeline.png").is_file():
        parts.append("<h2>Timeline</h2><img class='timeline' src='timeline.png' alt='motion timeline'>")
    parts.append("<h2>Micro-expressions</h2>")
    if events:
        columns = [c for c in ("event", "onset_s", "apex_s", "offset_s", "duration_ms", "label", "confidence",
                               "onset_frame", "apex_frame", "offset_frame") if c in events[0]]
        parts.append(_table(events, columns))
        for row in events:
            event = row["event"]
            figures = []
            for name, caption in EVIDENCE_IMAGES:
                rel = f"events/{event}/{name}"
                if (run_dir / rel).is_file():
                    figures.append(f"<figure><img src='{html.escape(rel)}' alt='{caption} of event {event}'>"
                                   f"<figcaption>{caption}</figcaption></figure>")
            label = row.get("label") or "unlabelled"
            parts.append(
                f"<div class='event' id='event-{html.escape(event)}'><b>Event {html.escape(event)}</b>: "
                f"{html.escape(label)} ({html.escape(row.get('confidence', ''))}), "
                f"{html.escape(row.get('onset_s', ''))} s to {html.escape(row.get('offset_s', ''))} s "
                f"({html.escape(row.get('duration_ms', ''))} ms)<br>{''.join(figures)}</div>")
    else:
        parts.append("<p class='note'>None found.</p>")
    if movements:
        parts.append("<h2>Other movements (not micro-expressions)</h2>")
        parts.append(_table(movements, list(movements[0])))
    parts.append("</body></html>")
    out = run_dir / "report.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
