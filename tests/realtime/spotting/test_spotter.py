"""Spotter: the out-and-back score on hand-made motion, streaming, and spotting on `mer-synth video`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from realtime.capture.video_io import read_video
from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.spotting.ground_truth import GroundTruth, read_synth_ground_truth
from realtime.spotting.motion import CellGrid, FacialMotion, FrameMotion, MotionConfig
from realtime.spotting.scoring import interval_iou, score_spotting
from realtime.spotting.spotter import Movement, SpotEvent, Spotter, SpotterConfig, out_and_back, spot
from training.synth.video import make_video
from support.shared_data import SHARED_DATA

GRID = CellGrid.build(224, MotionConfig())
YALE = SHARED_DATA / "faces" / "yale"


def _cells(*regions: str) -> np.ndarray:
    return np.array([r in regions for r in GRID.regions])


def hand_made(fps: float, duration_s: float,
              movements: list[tuple[tuple[str, ...] | np.ndarray, float, float, float | tuple[float, float]]], *,
              noise_px: float = 0.03, seed: int = 0, one_way: bool = False,
              lost: tuple[float, float] | None = None) -> list[FrameMotion]:
    """Frames of residual cell motion: (regions or a cell mask, onset_s, duration_s, amplitude_px) movements.

    A movement goes down (image y) by the amplitude (up if negative), or by an (x, y) amplitude, at mid-duration
    and returns;
    `one_way` movements get there at the end and stay (the onset of a macro-expression). The
    accumulated displacement carries white measurement noise of `noise_px`; flow is sampled at
    ~50 Hz like FacialMotion.
    """
    rng = np.random.default_rng(seed)
    times = np.arange(int(duration_s * fps)) / fps
    step = max(1, round(fps / 50))
    sampled = np.zeros(len(times), bool)
    sampled[::step] = True
    truth = np.zeros((len(times), len(GRID.regions), 2))  # (T, C, 2) displacement from neutral
    for regions, onset, length, amplitude in movements:
        s = np.clip((times - onset) / length, 0, 1)
        profile = (1 - np.cos(np.pi * s)) / 2 if one_way else np.sin(np.pi * s) ** 2
        mask = regions if isinstance(regions, np.ndarray) else _cells(*regions)
        vector = np.array(amplitude if isinstance(amplitude, tuple) else (0.0, amplitude))
        truth[:, mask] += profile[:, None, None] * vector
    measured = truth + rng.normal(0, noise_px, truth.shape)
    frames, last = [], None
    for i, t in enumerate(times):
        found = lost is None or not lost[0] <= t < lost[1]
        cells = None
        if found and sampled[i]:
            cells = None if last is None else (measured[i] - measured[last]).astype(np.float32)
            last = i
        if not found:
            last = None
        frames.append(FrameMotion(index=i, t_s=float(t), found=found, confidence=1.0 if found else 0.0,
                                  sampled=cells is not None, cells=cells, head=0.0, regions={}))
    return frames


def micro_of(events: list[SpotEvent | Movement]) -> list[SpotEvent]:
    return [e for e in events if isinstance(e, SpotEvent)]


def others_of(events: list[SpotEvent | Movement], kind: str) -> list[Movement]:
    return [e for e in events if isinstance(e, Movement) and e.kind == kind]


def test_out_and_back_scores_returning_movements_only() -> None:
    p = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.3, 0.0]])
    n = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    assert np.allclose(out_and_back(p, n), [1.0, 0.0, 0.0, 0.3])  # back, one way, still, min(|P|, |N|)


@pytest.mark.parametrize("fps", [24.0, 30.0, 100.0, 200.0])
def test_micro_expression_found_with_its_interval_at_any_rate(fps: float) -> None:
    frames = hand_made(fps, 6.0, [(("brow_left", "brow_right"), 3.0, 0.3, 0.8)])
    events = spot(frames, GRID)
    assert len(micro_of(events)) == 1, events
    event = micro_of(events)[0]
    truth = (round(3.0 * fps), round(3.3 * fps))
    assert score_spotting([event.frames.bounds], [truth]).tp == 1
    assert event.frames.onset <= event.frames.apex <= event.frames.offset
    assert abs(event.apex_s - 3.15) < 0.05  # the peak of the profile
    assert event.regions[0] in ("brow_left", "brow_right")


def test_one_way_movement_scores_nothing() -> None:
    """The rise of a macro-expression, however fast, is not a micro-expression."""
    frames = hand_made(100.0, 6.0, [(("mouth",), 3.0, 0.25, 3.0)], one_way=True)
    assert micro_of(spot(frames, GRID)) == []


def test_macro_expression_and_blink_go_to_the_movement_log() -> None:
    frames = hand_made(100.0, 12.0, [(("mouth", "cheek_left", "cheek_right"), 3.0, 1.2, 6.0),
                                     (("eye_left", "eye_right"), 7.0, 0.2, 2.0)])
    events = spot(frames, GRID)
    assert micro_of(events) == []
    assert others_of(events, "macro") and others_of(events, "blink")


def test_closing_lids_are_a_blink_and_rising_lower_lids_a_micro_expression() -> None:
    """Eye-dominated movements: lids going down blink; lids tightening upwards (AU7) stay candidates."""
    eyes = ("eye_left", "eye_right")
    down = spot(hand_made(50.0, 6.0, [(eyes, 3.0, 0.25, 0.8)]), GRID)
    up = spot(hand_made(50.0, 6.0, [(eyes, 3.0, 0.25, -0.8)]), GRID)
    assert micro_of(down) == [] and len(others_of(down, "blink")) == 1
    assert len(micro_of(up)) == 1 and others_of(up, "blink") == []


def test_weak_blink_is_a_blink_not_a_micro_expression() -> None:
    """Lids closing by 0.2 px: the noise of the other cells takes a larger share of the score (about a third
    on the eyes, as the weak blinks of the tuning videos made with `mer-synth video --blink 0.3`); lids going
    straight down make it a blink (`weak_blink_*`), without that rule it was a micro-expression. The same
    small movement upwards (a lid tightener) stays one."""
    eyes = ("eye_left", "eye_right")
    down = hand_made(100.0, 6.0, [(eyes, 3.0, 0.2, 0.2)], noise_px=0.05, seed=1)
    events = spot(down, GRID)
    assert micro_of(events) == [] and [b for b in others_of(events, "blink") if "weak blink" in b.reason], events
    assert len(micro_of(spot(down, GRID, replace(SpotterConfig(), weak_blink_eye_share=1.0)))) == 1
    up = spot(hand_made(100.0, 6.0, [(eyes, 3.0, 0.2, -0.2)], noise_px=0.05, seed=1), GRID)
    assert len(micro_of(up)) == 1 and others_of(up, "blink") == [], up


def test_jaw_dropping_does_not_veto_a_brow_micro_expression() -> None:
    """A jaw dropping one way (the first syllable's, before the turns that tell talking are in, measured on a
    rendered 100 fps interview: a lid tightener vetoed 0.1 s before talking was known) overlaps a micro-expression
    of the brows: it vetoes the same movement of the mouth, not the brows'."""
    jaw = hand_made(100.0, 8.0, [(("mouth", "chin"), 3.9, 0.3, 3.0)], one_way=True, noise_px=0.0)

    def with_jaw(regions: tuple[str, ...]) -> list[FrameMotion]:
        own = hand_made(100.0, 8.0, [(regions, 4.0, 0.3, 0.6)])
        return [replace(f, cells=None if f.cells is None else f.cells + j.cells) for f, j in zip(own, jaw)]

    brows = spot(with_jaw(("brow_left", "brow_right")), GRID)
    assert len(micro_of(brows)) == 1 and others_of(brows, "macro"), brows
    mouth = spot(with_jaw(("mouth",)), GRID)
    assert micro_of(mouth) == [], mouth


def test_brow_micro_expression_on_the_first_syllable_is_found() -> None:
    """Brows moving on the first syllable of talking, before talking is known: the whole face's score takes them
    with the syllable for one mouth movement, speech once talking is known; the upper face's own score shows them
    (`hidden_upper_z`), so the movement is measured again there and is a micro-expression. On the syllables alone
    the upper face is still and the rule changes nothing."""
    syllables = [(("mouth", "chin"), 4.0 + 0.3 * i, 0.3, 1.5) for i in range(10)]
    brows = hand_made(100.0, 10.0, syllables + [(("brow_left", "brow_right"), 4.0, 0.3, 0.6)])
    found = micro_of(spot(brows, GRID))
    assert len(found) == 1 and found[0].regions[0].startswith("brow"), found
    assert score_spotting([found[0].frames.bounds], [(400, 430)]).tp == 1
    assert micro_of(spot(brows, GRID, replace(SpotterConfig(), hidden_upper_z=np.inf))) == []
    alone = hand_made(100.0, 10.0, syllables)
    assert spot(alone, GRID) == spot(alone, GRID, replace(SpotterConfig(), hidden_upper_z=np.inf))


def _lids(upper: bool) -> np.ndarray:
    """The upper or lower lids' cells: the eye cells above or below the lids' middle, within the eyes' width."""
    lids = GRID.eye & np.array([r.startswith(("eye", "brow")) for r in GRID.regions])
    middle = np.median(GRID.centres[lids, 1])
    return lids & ((GRID.centres[:, 1] < middle) == upper)


def test_lids_closing_askew_are_a_blink_and_lower_lids_rising_a_micro_expression() -> None:
    """A weak blink whose upper lids' flow goes more sideways than down (the eye cells as a whole barely move
    down: no `blink_down` nor weak-blink rule applies, and it was a micro-expression) is a blink by its shape:
    upper lids down, lower lids still. A lid tightener (AU7: lower lids up, upper lids a little down) with the
    same eye share stays a micro-expression, as do brows lifting the upper lids."""
    askew = hand_made(100.0, 6.0, [(_lids(upper=True), 3.0, 0.2, (0.3, 0.08))], noise_px=0.02, seed=2)
    events = spot(askew, GRID)
    assert micro_of(events) == [] and [b for b in others_of(events, "blink") if "no tightening" in b.reason], events
    assert len(micro_of(spot(askew, GRID, replace(SpotterConfig(), blink_lift=-np.inf)))) == 1
    tightener = hand_made(100.0, 6.0, [(_lids(upper=False), 3.0, 0.25, -0.3), (_lids(upper=True), 3.0, 0.25, 0.1)],
                          noise_px=0.02, seed=2)
    events = spot(tightener, GRID)
    assert len(micro_of(events)) == 1 and others_of(events, "blink") == [], events
    lifted = spot(hand_made(100.0, 6.0, [(_lids(upper=True), 3.0, 0.25, (0.1, -0.3))], noise_px=0.02, seed=2), GRID)
    assert len(micro_of(lifted)) == 1 and others_of(lifted, "blink") == [], lifted


@pytest.mark.parametrize("echo", [1.0, 0.0])
def test_two_blinks_close_together_make_no_micro_expression(echo: float) -> None:
    """Between two blinks 0.4 s apart the score pairs the first one's reopening lids with the second's
    closing ones, an out and back the lids never made; `blink_echo` logs it with the blinks (measured
    on a rendered 200 fps interview: a 1.1 px 'micro-expression' between two blinks)."""
    eyes = ("eye_left", "eye_right")
    events = spot(hand_made(50.0, 6.0, [(eyes, 3.0, 0.25, 0.8), (eyes, 3.65, 0.25, 0.8)]), GRID,
                  replace(SpotterConfig(), blink_echo=echo, blink_lift=-np.inf))  # the echo alone (no lid shape)
    assert (micro_of(events) == []) == (echo > 0), events
    assert len(others_of(events, "blink")) >= 2


def test_threshold_follows_the_persons_noise() -> None:
    """The same movement is found on a calm face and drowned on a noisy one, not by the maximum."""
    calm = spot(hand_made(50.0, 8.0, [(("brow_left",), 4.0, 0.3, 0.5)], noise_px=0.02), GRID)
    noisy = spot(hand_made(50.0, 8.0, [(("brow_left",), 4.0, 0.3, 0.5)], noise_px=0.3), GRID)
    assert len(micro_of(calm)) == 1 and micro_of(noisy) == []


def test_face_lost_is_occlusion_never_micro() -> None:
    frames = hand_made(50.0, 8.0, [(("brow_left", "brow_right"), 4.0, 0.3, 0.8)], lost=(4.1, 4.4))
    events = spot(frames, GRID)
    assert micro_of(events) == []
    assert others_of(events, "occlusion")


def test_streaming_equals_batch_and_lookahead_is_bounded() -> None:
    fps = 100.0
    frames = hand_made(fps, 14.0, [(("brow_left", "brow_right"), 3.0, 0.3, 0.8), (("mouth",), 6.0, 0.4, 0.8),
                                   (("eye_left", "eye_right"), 9.0, 0.2, 2.0), (("nose",), 12.0, 0.25, 0.8)])
    batch = spot(frames, GRID)
    spotter = Spotter(GRID)
    streamed: list[SpotEvent | Movement] = []
    for frame in frames:
        for event in spotter.process(frame):
            delay = frame.t_s - event.offset_s
            if isinstance(event, SpotEvent):  # a micro-expression is out within the stated look-ahead
                assert delay <= spotter.config.lookahead_s + 2 / 50  # + one flow step and one frame of slack
            else:
                assert delay <= 3 * spotter.config.window_s + spotter.config.lookahead_s
            streamed.append(event)
    assert spotter.finish() == []
    assert sorted(streamed, key=lambda e: e.onset_s) == batch
    assert len(micro_of(batch)) == 3
    spotter.reset()  # a reset spotter is a fresh one
    assert [e for f in frames for e in spotter.process(f)] == streamed


def test_time_must_increase() -> None:
    frames = hand_made(30.0, 1.0, [])
    spotter = Spotter(GRID)
    spotter.process(frames[3])
    with pytest.raises(InputError, match="does not increase"):
        spotter.process(frames[2])


def test_config_is_checked() -> None:
    with pytest.raises(InputError, match="band"):
        SpotterConfig(band=9.0, threshold=8.0)
    with pytest.raises(InputError, match="look-ahead"):
        SpotterConfig(window_s=0.3, context_s=0.4)
    assert replace(SpotterConfig(), window_s=0.3, context_s=0.3).lookahead_s < SpotterConfig().lookahead_s


def test_history_stays_bounded_on_a_long_stream() -> None:
    """Five minutes of a restless face: memory does not grow with the stream."""
    fps = 30.0
    rng = np.random.default_rng(3)
    spotter = Spotter(GRID)
    total = np.zeros((len(GRID.regions), 2))
    sizes = []
    for i in range(int(300 * fps)):
        step = rng.normal(0, 0.05, total.shape)
        if i % 90 < 20:  # a large movement every 3 s: segments open and close all the time
            step[_cells("mouth")] += 0.3 * np.sign(np.sin(i / 3))
        spotter.process(FrameMotion(index=i, t_s=i / fps, found=True, confidence=1.0, sampled=i > 0,
                                    cells=step.astype(np.float32) if i > 0 else None, head=0.0, regions={}))
        if i % 1500 == 1499:
            sizes.append(spotter.history_size)
    # five histories (motion, frames, scores, and the lower face's motion and scores), each under ~a noise window
    assert max(sizes) < 5 * (SpotterConfig().noise_window_s * fps)
    assert sizes[-1] <= 1.2 * sizes[1]


# ---------------------------------------------------------------------------------------------
# Spotting on `mer-synth video` interviews. The spotter's parameters were tuned on seeds 1, 2, 3
# and 11 (astronaut, Yale subjects 03 and 04) and then frozen; these seeds, and the Yale subjects
# they draw (subjects 09 and 10), were not looked at before. Each video is the shortest that holds
# 20 micro-expressions with its macro-expressions and blinks, at 480x360 (a 188 px face; half the
# rendering cost of 640x480; at 320x240, a 125 px face, F1 drops to 0.79-0.86). To keep the test
# near its budget the 100 and 200 fps videos are decoded in full but aligned (MediaPipe) only at
# the ~50 Hz that FacialMotion samples anyway; frame indices and times stay the video's own.
HELD_OUT = {"astronaut-30fps": (None, 30.0, 7), "yale-100fps": (YALE, 100.0, 8), "yale-200fps": (YALE, 200.0, 9)}
DURATION_S = 32.0


@dataclass(frozen=True)
class Spotted:
    events: list[SpotEvent | Movement]
    truth: GroundTruth


@pytest.fixture(scope="module", params=list(HELD_OUT))
def interview(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Spotted:
    """One held-out video made, decoded, aligned (real MediaPipe) and spotted once per module."""
    faces, fps, seed = HELD_OUT[request.param]
    if faces is not None and not faces.is_dir():
        pytest.skip(f"{faces} is absent (../shared/data): the Yale identities are not available")
    video = make_video(tmp_path_factory.mktemp("interview") / f"{request.param}.mp4", fps=fps,
                       duration=DURATION_S, micro=20, faces=faces, seed=seed, size=(480, 360))
    stride = max(1, round(fps / MotionConfig().sample_hz))
    motion = FacialMotion(crop_size=224)
    spotter = Spotter(motion.grid)
    events: list[SpotEvent | Movement] = []
    with FaceAligner(AlignConfig(size=224)) as aligner:
        for frame in read_video(video.path):
            if frame.index % stride:
                continue
            face = aligner.process(frame.image, frame.t_s)
            events += spotter.process(motion.process(face.crop, t_s=frame.t_s, index=frame.index, found=face.found,
                                                     confidence=face.confidence))
    return Spotted(events=events + spotter.finish(), truth=read_synth_ground_truth(video.groundtruth))


@pytest.mark.slow  # the three videos take ~2 min of CPU to make, decode and align
def test_held_out_interview_is_spotted_with_f1_over_0_8(interview: Spotted) -> None:
    truth = interview.truth.micro_intervals()
    assert len(truth) >= 20
    assert interview.truth.of_kind("macro") and interview.truth.of_kind("blink")
    micro = micro_of(interview.events)
    score = score_spotting([e.frames.bounds for e in micro], truth)
    assert score.f1 >= 0.8, score.to_dict()
    for event in micro:
        assert event.frames.onset <= event.frames.apex <= event.frames.offset


@pytest.mark.slow
def test_held_out_macro_expressions_and_blinks_are_never_micro(interview: Spotted) -> None:
    micro = micro_of(interview.events)
    for other in interview.truth.of_kind("macro") + interview.truth.of_kind("blink"):
        hits = [e for e in micro if interval_iou(e.frames.bounds, other.frames.bounds) > 0]
        assert not hits, (other, hits)
    blinks = others_of(interview.events, "blink")
    assert sum(any(interval_iou(b.frames.bounds, truth.frames.bounds) > 0 for b in blinks)
               for truth in interview.truth.of_kind("blink")) >= len(interview.truth.of_kind("blink")) - 1


# ---------------------------------------------------------------------------------------------
# Talking, on hand-made motion: the jaw (mouth and chin cells) going down and back at 4 Hz.
def _speech(start: float, end: float, amplitude: float = 1.5) -> list[tuple[tuple[str, ...], float, float, float]]:
    return [(("mouth", "chin"), t, 0.25, amplitude) for t in np.arange(start, end - 0.2, 0.25)]


def test_talking_is_logged_and_seen_while_it_lasts() -> None:
    fps = 50.0
    frames = hand_made(fps, 10.0, _speech(2.0, 6.0))
    spotter = Spotter(GRID)
    events, talking = [], []
    for frame in frames:
        events += spotter.process(frame)
        talking.append(spotter.talking)
    events += spotter.finish()
    spans = [e for e in others_of(events, "speech") if e.reason == "talking"]
    assert len(spans) == 1 and abs(spans[0].onset_s - 2.0) < 0.3 and abs(spans[0].offset_s - 6.0) < 0.4, spans
    times = np.array([f.t_s for f in frames])
    assert np.mean(np.array(talking)[(times > 3.0) & (times < 6.0)]) > 0.95
    assert not np.any(np.array(talking)[(times > 7.0) | (times < 2.0)])
    assert micro_of(events) == []  # syllables are no micro-expressions


def test_upper_face_micro_expression_inside_speech_is_found_and_flagged() -> None:
    frames = hand_made(50.0, 10.0, _speech(2.0, 8.0) + [(("brow_left", "brow_right"), 5.0, 0.3, 0.8)])
    (event,) = micro_of(spot(frames, GRID))
    assert event.during_speech and abs(event.onset_s - 5.0) < 0.1 and abs(event.offset_s - 5.3) < 0.1


def test_lower_face_micro_expression_half_a_second_after_speech_is_found() -> None:
    """The whole face's noise is not fed with speech: it is the face at rest again as talking stops.
    Lip corners going up (not the jaw opening) 0.5 s after the last syllable."""
    speech = _speech(2.0, 7.0)
    last = speech[-1][1] + speech[-1][2]
    frames = hand_made(50.0, 11.0, speech + [(("mouth",), last + 0.5, 0.3, -0.8)])
    (event,) = micro_of(spot(frames, GRID))
    assert abs(event.onset_s - (last + 0.5)) < 0.1 and not event.during_speech
