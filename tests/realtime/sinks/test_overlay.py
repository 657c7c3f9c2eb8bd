"""The overlay never covers the face: the picture stays as it was, text and traces go in a band
below it; a frame without a value (face lost, region covered) is a gap in its trace."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from realtime.sinks.overlay import (LABEL_WIDTH, LINE_PX, TEXT_ROWS, TRACE_COLOURS, YELLOW, OverlayEvent, OverlayState,
                                     draw_overlay)


def _state(values: list[float]) -> OverlayState:
    return OverlayState(t_s=3.0, face_box=(200.0, 60.0, 440.0, 330.0), face_confidence=0.97,
                        motion={"mouth": values, "chin": values}, spotter_state="rising",
                        events=(OverlayEvent(1, 2.5, "surprise", 0.9),), model_note="synthetic demo model " * 5,
                        show_help=True)


def test_the_picture_is_untouched_and_the_band_is_below() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)  # 640x360: the size
    out = draw_overlay(frame, _state([1.0, 30.0, 5.0] * 40))
    assert out.shape[1] == 640 and out.shape[0] > 360
    outline = np.zeros((360, 640), bool)
    outline[57:334, 197:444] = True
    outline[60:331, 200:441] = False  # the 1 px outline sits 2 px outside the face's box
    assert np.array_equal(out[:360][~outline], frame[~outline])  # face, mouth and chin as recorded
    band = out[360:]
    assert (np.abs(band.astype(int) - YELLOW).sum(axis=2) < 60).sum() > 20  # the spotter's state
    for colour in TRACE_COLOURS[:2]:
        assert (np.abs(band.astype(int) - colour).sum(axis=2) < 40).sum() > 50  # both traces


def test_a_missing_value_is_a_gap_in_the_trace() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    whole = draw_overlay(frame, _state([20.0] * 100))[360:]
    gap = draw_overlay(frame, _state([20.0] * 40 + [float("nan")] * 20 + [20.0] * 40))[360:]
    colour = TRACE_COLOURS[0]
    count = lambda band: int((np.abs(band.astype(int) - colour).sum(axis=2) < 40).sum())  # noqa: E731
    assert count(gap) < count(whole) * 0.9


def test_each_lane_is_named_and_no_frame_leaves_anything_on_the_next() -> None:
    """The lanes' names and the steady text rows are drawn once and copied into every frame's band:
    a frame's traces must not stay behind in a later frame, and changed text must show."""
    frame = np.zeros((360, 640, 3), np.uint8)
    traced = draw_overlay(frame, _state([30.0] * 120))[360:]
    quiet = draw_overlay(frame, _state([]))[360:]  # no values yet: names only
    talking = draw_overlay(frame, replace(_state([]), spotter_state="talking"))[360:]
    blank = draw_overlay(frame, replace(_state([]), motion={}))[360:]  # no face yet: no lanes
    top = TEXT_ROWS * LINE_PX + 6
    assert not np.array_equal(talking[LINE_PX:2 * LINE_PX], quiet[LINE_PX:2 * LINE_PX])  # the spotter's row
    assert np.array_equal(talking[top:], quiet[top:])
    assert blank[:top].any() and not blank[top:].any()  # the text, and nothing where the lanes would be
    for i, colour in enumerate(TRACE_COLOURS[:2]):
        lane = quiet[top + i * 66: top + (i + 1) * 66, :LABEL_WIDTH]  # 132 px of traces, two lanes
        assert (np.abs(lane.astype(int) - colour).sum(axis=2) < 60).sum() > 10  # its name
        assert (np.abs(traced[:, LABEL_WIDTH:].astype(int) - colour).sum(axis=2) < 40).sum() > 50
        assert (np.abs(quiet[:, LABEL_WIDTH:].astype(int) - colour).sum(axis=2) < 40).sum() == 0
