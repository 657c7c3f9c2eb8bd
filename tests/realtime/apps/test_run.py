"""The one run loop: mer-process and mer-live write the same summary, from the same loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime.apps.live import LiveOptions, LiveSession
from realtime.apps.offline import process_video

GOLDEN_VIDEO = Path(__file__).parents[2] / "golden" / "interview.mp4"


@pytest.mark.slow
def test_offline_and_live_summaries_have_the_same_keys_and_counts(tmp_path: Path) -> None:
    offline = process_video(GOLDEN_VIDEO, tmp_path / "out", write_video=False)
    record = tmp_path / "session.mp4"
    live = LiveSession(GOLDEN_VIDEO, options=LiveOptions(record=record, headless=True)).run()
    on_disk = json.loads((tmp_path / "out" / "interview" / "summary.json").read_text())
    session = json.loads((tmp_path / "session_session" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(offline.to_dict()))
    assert set(session) - set(on_disk) == {"recording"} and set(on_disk) <= set(session)
    assert "processing_fps" in on_disk and on_disk["fps"] == 30.0  # the source's rate, in both
    assert session["fps"] == on_disk["fps"]
    assert offline.complete and live.complete and not live.interrupted
    # A file played as a camera may drop frames; what it analysed, it analysed as mer-process did.
    assert live.frames + live.dropped_frames == offline.frames == 240
    assert offline.micro_expressions >= 1
