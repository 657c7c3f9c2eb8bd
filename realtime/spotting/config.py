"""The spotter's settings: every time in seconds (any frame rate), every score in noise units.

Each stage gets its own part (`segments`, `one_way`, `rules`, ...), so a stage sees only the
thresholds it uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.core.errors import InputError
from realtime.spotting.one_way import OneWayConfig
from realtime.spotting.rules import RuleConfig
from realtime.spotting.segments import SegmentConfig
from realtime.spotting.talking import TalkingConfig


@dataclass(frozen=True)
class SpotterConfig:
    """Every time in seconds (any frame rate); scores in units of the person's own noise."""

    window_s: float = 0.4  # L: a movement out and back within ~L scores fully (a 0.5 s ME's rise and fall
    #                        each take < 0.4 s); a 1-3 s macro-expression's rise and fall are further apart
    noise_window_s: float = 8.0  # rolling noise estimate: long enough that events are a minority in it
    noise_refresh_s: float = 0.1  # the rolling estimate is recomputed this often (it moves on the scale of seconds)
    noise_floor: float = 1e-3  # the spread counts as at least this share of the resting level (a still face)
    warmup_s: float = 1.0  # no detection before this much score history (the noise estimate needs it)
    top_cells: int = 3  # score = mean of the k highest cells: an action unit moves a few cells
    threshold: float = 5.0  # peak score, noise units, for a movement to count
    band: float = 2.0  # noise band: onset/offset where the score re-enters it
    end_s: float = 0.04  # quiet time after the offset that closes a movement (2 flow steps)
    tail_s: float = 0.1  # onset/offset may lie this far beyond the band crossing (the slow ends of a movement)
    min_duration_s: float = 0.04  # shortest micro-expression
    max_duration_s: float = 0.5  # longest micro-expression
    longest_s: float = 3.0  # a movement still going after this long is closed (and logged) as it stands
    max_amplitude_px: float = 1.5  # larger peak displacements (aligned-crop px, face ~150 px wide) are macro or blink
    context_s: float = 0.4  # one-way movement is measured over this long just before onset and after offset
    one_way_ratio: float = 1.0  # ... and beyond this share of the event's own amplitude it is a macro's rise/fall
    one_way_noise: float = 4.0  # ... provided it also exceeds this many resting levels (weak events stay micro)
    one_way_join: float = 2.0  # one-way movements less than this many windows L apart are one macro-expression
    blink_eye_share: float = 0.4  # an eye-dominated movement (this share of the score on eye cells) ...
    blink_down: float = 0.3  # ... whose eye cells move down (upper lids closing) is a blink; lids moving up
    #                          (AU6, AU7: cheek raiser, lid tightener) stay micro-expression candidates
    weak_blink_eye_share: float = 0.3  # a weak blink (lids closing 24-30 %) leaves the eyes only 0.39-0.64 of the
    weak_blink_down: float = 0.6  # score, its lids going straight down (+0.5..+0.9); on the tuning videos no
    #                               micro-expression had over 0.3 of its score on the eyes with lids > 0.5 down
    blink_lift: float = 0.3  # an eye-dominated movement whose lower lids rise less than this share of its amplitude
    blink_rise: float = 0.2  # ... and whose upper lids rise less than this share is a blink whatever the direction
    #                          of its eye cells as a whole: a blink's upper lid goes down and its lower lid barely
    #                          moves; AU7 lifts the lower lid (0.5-1.1 on the tuning videos) and brows going up lift
    #                          the upper one (0.3-0.6); the blinks and false eye events there: lower lids -0.1..+0.2
    blink_echo: float = 1.0  # an eye-dominated movement starting within this many windows L after a blink ends is
    #                          that blink's echo: the score at t pairs the lids reopening (before t) with whatever
    #                          the lids do next (a second blink), an out and back that never happened
    speech_window_s: float = 1.5  # mouth movements this close before another one make it speech ...
    speech_count: int = 2  # ... when there are at least this many ...
    speech_mouth_share: float = 0.5  # ... where a mouth movement has more than this share of its score on MOUTH_REGIONS
    region_share: float = 0.5  # an event's regions: those of the cells scoring at least this share of its top cell
    speech_regions: tuple[str, ...] = ("mouth", "chin", "cheek_left", "cheek_right")  # the lower face: what
    #   speech moves. The cheeks go with it: the jaw's drop drags the lower cheek at every syllable, and
    #   AU6 (cheek raiser) still shows in the lower lids, which are eye cells and stay with the upper face.
    #   Cells of no region go with it when they lie below the nose tip.
    talk_regions: tuple[str, ...] = ("mouth", "chin")  # talking is read from these cells' vertical rhythm:
    talk_step_px: float = 0.3  # a turn of the jaw counts once it came back this far (aligned-crop px) ...
    talk_turns: int = 4  # ... and this many turns (two syllables; a micro-expression makes two) ...
    talk_window_s: float = 1.6  # ... within this long are talking (a word a second, as in real interviews, counts)
    talk_hangover_s: float = 0.8  # talking ends when no turn came for this long (a slow word and a short pause) ...
    talk_close_s: float = 0.2  # ... at this long after the last turn (the closing half of a syllable)
    speech_margin_s: float = 0.3  # a lower-face movement this close to talking belongs to it ...
    jaw_open: float = 0.3  # ... when its chin goes down (the jaw opening) by this share of its amplitude or more:
    #                        a chin raiser (AU17) or lip corners (AU12, AU14, AU15) next to speech are no syllable
    talk_hold_s: float = 0.3  # a lower-face movement far from known talking is decided this much later: with the
    #                           look-ahead, 0.8 s after its offset, time for the turns that tell talking (the
    #                           first syllable of a sentence must not come out as a micro-expression)
    hidden_upper_z: float = 12.0  # a lower-face movement taken for speech whose upper face's own score peaks at this
    #                               (noise units), refitted on the upper face alone, hid an upper-face movement: it is
    #                               measured again there (tuning videos: a brow micro-expression on a syllable 13.5,
    #                               a blink 19.1 and a brow raise 13.7, which the measure on the upper face tells; the
    #                               first syllable's leak into the upper face 16.8 before the refit, 0.9 after)
    raise_brow_share: float = 0.5  # a movement during talking with this share of its score on the brows ...
    raise_symmetry: float = 0.7  # ... moving both brows alike (weaker side / stronger side) ...
    raise_up: float = 0.0  # ... not down against the eyes and nose (brow_up, a share of its amplitude) ...
    raise_min_s: float = 0.3  # ... for at least this long is a conversational brow raise (speech)
    lower_in_speech: bool = True  # while talking, also score the lower face less the jaw's share (jaw.JawRemoval)
    #                               on its own, for lip-corner and chin micro-expressions inside speech ...
    lower_threshold: float = 10.0  # ... whose peak, in units of that score's own noise during talking, reaches
    #                                this: speech's leftover is heavy-tailed (on the tuning videos its peaks reached
    #                                9.6 where no micro-expression was; lip-corner ones peaked at 5-27, 7 of 13 >= 10)
    jaw_memory_s: float = 8.0  # ... with each cell's share of the jaw's drop fitted over about this long of talking
    refit_iterations: int = 4  # the upper face's own robust affine fit (out_and_back.AffineRefit): IRLS passes ...
    refit_tukey: float = 4.0  # ... and residuals beyond this many robust spreads get no weight
    min_confidence: float = 0.5  # tracking confidence below this is occlusion
    occlusion_margin_s: float = 0.1  # a lost or doubtful face this close to an event makes it occlusion
    history_margin_s: float = 2.0  # history kept beyond what an open decision needs
    trim_batch: int = 64  # history is trimmed in batches of more than this many samples (list slicing is O(n))

    def __post_init__(self) -> None:
        for name in ("window_s", "noise_window_s", "end_s", "max_duration_s", "threshold", "band"):
            if getattr(self, name) <= 0:
                raise InputError(f"SpotterConfig.{name}={getattr(self, name)}: must be positive")
        if self.context_s > self.window_s:
            raise InputError(f"SpotterConfig: context_s={self.context_s} must not exceed window_s={self.window_s} "
                             "(the look-ahead)")
        if self.band >= self.threshold:
            raise InputError(f"SpotterConfig: band={self.band} must be below threshold={self.threshold}")

    @property
    def lookahead_s(self) -> float:
        """How long after its offset an event comes out at most: L of future motion, then `tail_s` of
        quiet (0.5 s: a movement of the upper face, or one during known talking), and for a lower-face
        movement away from known talking `talk_hold_s` more (0.8 s)."""
        return self.window_s + max(self.end_s, self.tail_s) + self.talk_hold_s

    @property
    def talking(self) -> TalkingConfig:
        return TalkingConfig(step_px=self.talk_step_px, turns=self.talk_turns, window_s=self.talk_window_s,
                             hangover_s=self.talk_hangover_s, close_s=self.talk_close_s)

    @property
    def segments(self) -> SegmentConfig:
        return SegmentConfig(band=self.band, end_s=self.end_s, tail_s=self.tail_s, longest_s=self.longest_s)

    @property
    def one_way(self) -> OneWayConfig:
        return OneWayConfig(min_px=self.max_amplitude_px, threshold=self.threshold, eye_share=self.blink_eye_share,
                            join_s=self.one_way_join * self.window_s, window_s=self.noise_window_s,
                            every_s=self.noise_refresh_s)

    @property
    def rules(self) -> RuleConfig:
        return RuleConfig(threshold=self.threshold, min_duration_s=self.min_duration_s, max_duration_s=self.max_duration_s,
                          max_amplitude_px=self.max_amplitude_px, one_way_ratio=self.one_way_ratio,
                          one_way_noise=self.one_way_noise, blink_eye_share=self.blink_eye_share,
                          blink_down=self.blink_down, weak_blink_eye_share=self.weak_blink_eye_share,
                          weak_blink_down=self.weak_blink_down, blink_lift=self.blink_lift,
                          blink_rise=self.blink_rise, blink_echo_s=self.blink_echo * self.window_s,
                          speech_window_s=self.speech_window_s,
                          speech_count=self.speech_count, speech_mouth_share=self.speech_mouth_share,
                          raise_brow_share=self.raise_brow_share, raise_symmetry=self.raise_symmetry,
                          raise_up=self.raise_up, raise_min_s=self.raise_min_s, jaw_open=self.jaw_open,
                          lower_threshold=self.lower_threshold)
