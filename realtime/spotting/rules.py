"""Rules stage: what a closed movement is, from what it looks like (`Features`) alone.

In this order: a face lost or barely tracked nearby (occlusion); unless it was found on the lower face less
the jaw's share during talking (`lower_z`), a mouth movement after `speech_count` others within
`speech_window_s`, or during talking, or a conversational brow raise (both brows up alike for `raise_min_s` or
longer while talking) (speech); an eye-dominated movement whose lids go down, a large one, one with a smaller
share on the eyes whose lids go straight down (a weak blink: its small lid movement leaves more of the score
to the noise of other cells), an eye-dominated one whose lower lids do not rise (AU7 lifts them) and whose
upper lids do not rise (brows going up lift them), or one just after a blink (blink); one inside a large one-way
movement, larger than `max_amplitude_px` of the canonical face, longer than `max_duration_s`, or next to a
one-way movement larger than itself (macro); shorter than `min_duration_s` (noise, dropped); else a micro-expression.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleConfig:
    threshold: float
    min_duration_s: float
    max_duration_s: float
    max_amplitude_px: float
    one_way_ratio: float
    one_way_noise: float
    blink_eye_share: float
    blink_down: float
    weak_blink_eye_share: float
    weak_blink_down: float
    blink_lift: float
    blink_rise: float
    blink_echo_s: float
    speech_window_s: float
    speech_count: int
    speech_mouth_share: float
    raise_brow_share: float
    raise_symmetry: float
    raise_up: float
    raise_min_s: float
    jaw_open: float
    lower_threshold: float


@dataclass(frozen=True)
class Features:
    """What a closed segment looks like."""

    onset_s: float
    offset_s: float
    apex_s: float
    peak_z: float  # noise units
    amplitude_px: float  # mean peak score of the top cells
    level_px: float  # the person's resting score level (median), px
    one_way_px: float  # larger net movement of the top cells in the context before onset / after offset
    eye_share: float  # share of the peak score on eye cells
    eye_down: float  # -1..1: how much the eye cells moved down (+) or up (-) from neutral to the peak
    lid_lift: float  # how far the lower lids rose from onset to the peak, / amplitude_px (AU6, AU7)
    lid_rise: float  # how far the upper lids rose from onset to the peak, / amplitude_px (the brows lifting them)
    mouth_share: float  # share of the peak score on mouth, chin and cheek cells
    mouth_before: int  # mouth movements in the speech window before the apex
    occluded: bool
    in_one_way: bool  # overlaps a large one-way movement (a macro-expression's rise, hold or fall)
    talking: bool  # the person talks during it or within the speech margin
    brow_share: float  # share of the peak score on brow and forehead cells
    brow_symmetry: float  # 0..1: weaker brow's score / stronger brow's
    upper_z: float  # the upper face's own score (refitted without the lower face) at its peak, noise units
    jaw_open: float  # how far the chin went down from onset to the peak, / amplitude_px (the jaw opening)
    brow_up: float  # how far the brows rose from onset to the peak against the eyes and nose, / amplitude_px
    since_blink_s: float = float("inf")  # from the end of the latest blink before it to its onset
    lower_z: float = float("nan")  # found on the lower face less the jaw's share while talking: its peak, noise units


def classify(f: Features, c: RuleConfig) -> tuple[str, str]:
    """(kind, reason): "micro", a movement kind, or "" for noise not worth logging."""
    duration = f.offset_s - f.onset_s
    if f.occluded:
        return "occlusion", "face lost or tracked with low confidence"
    jawless = f.lower_z >= c.lower_threshold  # moved as no drop of the jaw does: not a syllable
    if not jawless and f.mouth_share > c.speech_mouth_share and f.mouth_before >= c.speech_count:
        return "speech", f"{f.mouth_before} other mouth movements in the {c.speech_window_s} s before"
    if not jawless and f.talking and f.mouth_share > c.speech_mouth_share and f.jaw_open >= c.jaw_open:
        return "speech", "the jaw opening while talking"
    if f.talking and not jawless and f.mouth_share <= c.speech_mouth_share and not f.upper_z >= c.threshold:
        return "speech", f"talking leaks into the upper face (its own score {f.upper_z:.1f} < {c.threshold})"
    if (f.talking and f.brow_share >= c.raise_brow_share and f.brow_symmetry >= c.raise_symmetry
            and f.brow_up >= c.raise_up and duration >= c.raise_min_s):
        return "speech", (f"conversational brow raise: both brows ({f.brow_symmetry:.0%} alike) up for "
                          f"{duration * 1000:.0f} ms while talking")
    if f.eye_share > c.blink_eye_share and (f.eye_down > c.blink_down or f.amplitude_px > c.max_amplitude_px):
        return "blink", f"{f.eye_share:.0%} on the eyes, {f.eye_down:+.0%} downwards, {f.amplitude_px:.1f} px"
    if f.eye_share > c.weak_blink_eye_share and f.eye_down > c.weak_blink_down:
        return "blink", f"{f.eye_share:.0%} on the eyes, lids {f.eye_down:+.0%} downwards: a weak blink"
    if f.eye_share > c.blink_eye_share and f.lid_lift < c.blink_lift and f.lid_rise < c.blink_rise:
        return "blink", (f"{f.eye_share:.0%} on the eyes, lower lids rising {f.lid_lift:+.0%}, upper lids "
                         f"{f.lid_rise:+.0%}: the lids close, no tightening")
    if f.eye_share > c.blink_eye_share and f.since_blink_s < c.blink_echo_s:
        return "blink", f"{f.eye_share:.0%} on the eyes {f.since_blink_s * 1000:.0f} ms after a blink (its echo)"
    if f.in_one_way:
        return "macro", "inside a large one-way movement"
    if f.amplitude_px > c.max_amplitude_px:
        return "macro", f"moves {f.amplitude_px:.1f} px > {c.max_amplitude_px} px"
    if duration > c.max_duration_s:
        return "macro", f"lasts {duration * 1000:.0f} ms > {c.max_duration_s * 1000:.0f} ms"
    if f.one_way_px > max(c.one_way_ratio * f.amplitude_px, c.one_way_noise * f.level_px):
        return "macro", (f"inside a one-way movement ({f.one_way_px:.2f} px next to a {f.amplitude_px:.2f} px "
                         "return)")
    if duration < c.min_duration_s:
        return "", ""
    return "micro", ""
