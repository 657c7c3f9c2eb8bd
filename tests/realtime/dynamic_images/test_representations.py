"""Each method-family representation on constructed clips: a linear ramp, a movement that goes
out and back, reversed time, a constant clip, and the min-max / zero-motion edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.representation_config import RepresentationConfig
from realtime.dynamic_images.representations import (REPRESENTATIONS, build, list_representations, minmax,
                                                     motion_intensity, network_input)

S = 32
YS, XS = np.mgrid[0:S, 0:S]


def blob_at(cx: float) -> np.ndarray:
    """A bright Gaussian blob at column cx on a grey face-sized texture."""
    return 100.0 + 80.0 * np.exp(-((XS - cx) ** 2 + (YS - 16) ** 2) / 18.0)


def clip_of(shifts: list[float]) -> np.ndarray:
    return np.stack([blob_at(12 + s) for s in shifts]).astype(np.float32)  # (T, S, S)


RAMP = clip_of([0, 1, 2, 3, 4])  # moves right linearly; apex = offset = last frame
OUT_BACK = clip_of([0, 1, 2, 3, 4, 3, 2, 1, 0])  # out to the apex (4) and back
CONSTANT = np.full((7, S, S), 120.0, np.float32)


def test_every_representation_is_registered_with_its_shape_and_zero_on_a_constant_clip() -> None:
    for name in list_representations():
        entry = REPRESENTATIONS[name]
        raw, frames = build(name, CONSTANT, 0, 3, 6)
        assert raw.shape == (S, S, entry.channels) and raw.dtype == np.float32, name
        if name != "apex":  # every motion representation of a motionless clip is exactly zero
            assert np.abs(raw).max() < 1e-3, name
        x = network_input(name, raw, frames, DIInputConfig(size=16))
        assert x.shape == (entry.channels, 16, 16) and np.isfinite(x).all()
        if name != "apex":
            assert np.abs(x).max() == 0.0, name  # no motion -> an all-zero network input


def test_tr_di_and_mi_di_agree_on_a_ramp_and_differ_on_out_and_back() -> None:
    # A ramp is already ordered by intensity: MI-DI is the temporal DI. (Its apex is its offset,
    # so the line from onset to offset frame, which takes the offset for neutral, is not used.)
    np.testing.assert_allclose(build("di_mi", RAMP, 0, 4, 4)[0], build("di_clip", RAMP, 0, 4, 4)[0])
    # Measured as an event that ends at its last frame, the line takes that frame for neutral:
    # both ends rank lowest and the middle frame, furthest from the line, highest.
    line = np.argsort(motion_intensity(RAMP[..., None], RepresentationConfig()), kind="stable")
    assert list(line[:2]) == [0, 4] and line[-1] == 2
    # Out and back is symmetric in time: the antisymmetric temporal weights cancel it exactly,
    # while MI-DI ranks by intensity, so the apex-most frames weigh most and the movement shows.
    tr = build("di_clip", OUT_BACK, 0, 4, 8)[0]
    mi = build("di_mi", OUT_BACK, 0, 4, 8)[0]
    assert np.abs(tr).max() < 1e-3
    ramp_di = build("di_clip", RAMP, 0, 4, 4)[0]
    assert np.corrcoef(mi.ravel(), ramp_di.ravel())[0, 1] > 0.9


def test_mi_di_ranks_by_the_movement_under_a_slow_drift_of_light() -> None:
    """A light gradient growing by about a grey level per frame, as large over the event as the
    movement: against the onset frame the intensity then grows with time and MI-DI turns into a
    temporal DI (what AFN's engine got in a continuous video); against the line from onset to
    offset frame the drift cancels, the order is the movement's and MI-DI stays the still clip's."""
    still = clip_of([0, 1, 2, 3.5, 4, 2.5, 1.5, 0.5, 0])  # out to the apex (frame 4) and back, no ties
    drifting = still + (np.arange(9)[:, None, None] * (0.5 + XS / S)[None]).astype(np.float32)
    inputs = {}
    for config in (RepresentationConfig(), RepresentationConfig(mi_reference="onset")):
        order = [np.argsort(motion_intensity(clip[..., None], config), kind="stable") for clip in (still, drifting)]
        a, b = (network_input("di_mi", *build("di_mi", clip, 0, 4, 8, config), DIInputConfig(size=S)).ravel()
                for clip in (still, drifting))
        inputs[config.mi_reference] = (order, float(np.corrcoef(a, b)[0, 1]))
    (still_order, drifting_order), line_corr = inputs["line"]
    np.testing.assert_array_equal(drifting_order, still_order)
    assert still_order[-1] == 4  # the apex ranks highest
    assert line_corr > 0.99
    (still_order, drifting_order), onset_corr = inputs["onset"]
    assert drifting_order[-1] == 8 and onset_corr < 0.8  # the last frame outranks the apex


def test_reversed_time_negates_tr_di_and_keeps_mi_di_and_mesti() -> None:
    reversed_ramp = RAMP[::-1].copy()
    np.testing.assert_allclose(build("di_clip", reversed_ramp, 0, 4, 4)[0], -build("di_clip", RAMP, 0, 4, 4)[0],
                               atol=1e-3)
    # Reversed out-and-back: the same clip; MI-DI and MESTI are unchanged.
    reversed_clip = OUT_BACK[::-1].copy()
    for name in ("di_mi", "mesti"):
        np.testing.assert_allclose(build(name, reversed_clip, 0, 4, 8)[0], build(name, OUT_BACK, 0, 4, 8)[0],
                                   atol=1e-3)
    # A ramp played backwards puts the apex first: MESTI over (apex=onset) equals MESTI of the ramp.
    np.testing.assert_allclose(build("mesti", reversed_ramp, 0, 0, 4)[0], build("mesti", RAMP, 0, 4, 4)[0],
                               atol=1e-3)


def test_mesti_is_frame_rate_independent_and_centred_on_the_apex() -> None:
    slow = clip_of(list(np.linspace(0, 4, 9)) + list(np.linspace(4, 0, 9))[1:])  # same movement, twice the frames
    fast = build("mesti", OUT_BACK, 0, 4, 8)[0]
    np.testing.assert_allclose(build("mesti", slow, 0, 8, 16)[0], fast, atol=0.05 * np.abs(fast).max())
    # Both phases add up: out-and-back gives twice the onset phase's normalised DI.
    on_only = build("mesti", OUT_BACK[:5], 0, 4, 4)[0]
    np.testing.assert_allclose(fast, 2 * on_only, atol=1e-3)


def test_flows_follow_the_movement_and_swap_under_reversed_time() -> None:
    flow, frames = build("flow_onset", RAMP, 0, 4, 4)
    gain = RepresentationConfig().flow_gain
    u = flow[16, 10:18, 0] / gain
    assert frames == 5 and np.all(np.abs(u - 4.0) < 0.5), u  # 4 px to the right at the blob
    back = build("flow_offset", OUT_BACK, 0, 4, 8)[0][16, 10:18, 0] / gain
    assert np.all(np.abs(back + 4.0) < 0.5), back  # and 4 px back to the left
    assert np.abs(build("flow_offset", RAMP, 0, 4, 4)[0]).max() == 0.0  # apex == offset: no flow


def test_dis_flow_is_a_config_choice() -> None:
    u = build("flow_onset", RAMP, 0, 4, 4, RepresentationConfig(flow_method="dis"))[0][16, 10:18, 0] / 10.0
    assert np.all(np.abs(u - 4.0) < 1.0), u


def test_cof_combines_the_two_phases_by_their_weights() -> None:
    only_onset = RepresentationConfig(cof_theta_onset=1.0, cof_theta_offset=0.0)
    both = build("cof", OUT_BACK, 0, 4, 8)[0]
    onset = build("cof", OUT_BACK, 0, 4, 8, only_onset)[0]
    assert 0.0 <= both.min() and both.max() <= 255.0 + 1e-3
    assert onset.max() == pytest.approx(255.0, rel=1e-3)  # min-max stretches a moving phase to full scale
    # The ramp has no offset phase: the missing phase adds zero, not NaN.
    ramp = build("cof", RAMP, 0, 4, 4)[0]
    assert np.isfinite(ramp).all() and ramp.max() == pytest.approx(0.5 * 255.0, rel=1e-3)
    # Reversed time swaps the phases; with equal weights COF is unchanged.
    np.testing.assert_allclose(build("cof", OUT_BACK[::-1].copy(), 0, 4, 8)[0], both, atol=0.05 * 255)


def test_minmax_edge_cases() -> None:
    floor = RepresentationConfig().minmax_floor
    assert np.all(minmax(np.zeros((4, 4)), floor) == 0.0)  # zero motion: zero, not NaN
    weak = np.array([[0.0, floor / 2]])
    np.testing.assert_allclose(minmax(weak, floor), [[0.0, 0.5]])  # below the floor: not stretched
    strong = np.array([[1.0, 3.0, 5.0]])
    np.testing.assert_allclose(minmax(strong, floor), [[0.0, 0.5, 1.0]])


def test_mm_cof_keeps_salient_motion_and_suppresses_weak_motion() -> None:
    cof = build("cof", OUT_BACK, 0, 4, 8)[0]
    for modulation in ("soft", "hard"):
        config = RepresentationConfig(mm_modulation=modulation)
        mm = build("mm_cof", OUT_BACK, 0, 4, 8, config)[0]
        tau = np.percentile(cof, config.mm_tau_percentile)
        strong, weak = cof >= tau + 0.1 * 255, cof <= tau - 0.1 * 255
        assert np.all(mm <= cof + 1e-3)
        assert np.all(mm[strong] > 0.7 * cof[strong]), modulation
        assert np.all(mm[weak] < 0.2 * cof[weak] + 1e-3), modulation


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="onset <= apex"):
        build("cof", RAMP, 3, 1, 4)
    with pytest.raises(InputError, match="grey frames"):
        build("mesti", np.zeros((5, S, S, 3), np.float32), 0, 2, 4)
    with pytest.raises(InputError, match="unknown representation"):
        build("optical_flux", RAMP, 0, 2, 4)
    with pytest.raises(InputError, match="flow_method"):
        RepresentationConfig(flow_method="farneback")
    with pytest.raises(InputError, match="RepresentationConfig"):
        DIInputConfig(representation={"theta": 1})
