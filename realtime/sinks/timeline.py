"""timeline.png: facial motion over time with every event shaded and labelled."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402

from realtime.sinks.csv_stream import MOTION_PREFIX, cell_float, read_rows  # noqa: E402


def write_timeline(run_dir: str | Path) -> Path:
    """Plot run_dir/frames.csv motion, shade events.csv and movements.csv; return the PNG path."""
    run_dir = Path(run_dir)
    frames = read_rows(run_dir / "frames.csv")
    events = read_rows(run_dir / "events.csv")
    movements = read_rows(run_dir / "movements.csv")
    fig, ax = plt.subplots(figsize=(14, 3.6), dpi=100)
    if frames:
        t = np.array([cell_float(r["time_s"]) for r in frames])
        regions = [c for c in frames[0] if c.startswith(MOTION_PREFIX)]
        for column in regions:
            ax.plot(t, [cell_float(r[column]) for r in frames], lw=0.8, label=column[len(MOTION_PREFIX):])
        if regions:
            ax.legend(loc="upper right", fontsize=7, ncol=min(len(regions), 6), frameon=False)
    for row in movements:
        ax.axvspan(cell_float(row["onset_s"]), cell_float(row["offset_s"]), color="0.85", zorder=0)
    for row in events:
        start, end = cell_float(row["onset_s"]), cell_float(row["offset_s"])
        ax.axvspan(start, end, color="tab:red", alpha=0.3, zorder=0)
        ax.annotate(f"{row['event']}: {row.get('label') or '?'}", xy=(start, 1.0), xycoords=("data", "axes fraction"),
                    fontsize=7, color="darkred", rotation=90, va="top", ha="right")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("motion (aligned px/s)")
    ax.set_title("Facial motion; red: micro-expressions, grey: other movements", fontsize=10)
    fig.tight_layout()
    out = run_dir / "timeline.png"
    fig.savefig(out)
    plt.close(fig)
    return out
