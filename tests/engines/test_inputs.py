"""Engine inputs go through to_network_input only, and bad samples are named in one line."""

from __future__ import annotations

import numpy as np
import pytest

from engines.inputs import RawDI, check_network_inputs, prepare_inputs, synthetic_samples
from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig, to_network_input

CONFIG = DIInputConfig(size=32)


def test_prepare_inputs_is_to_network_input_stacked() -> None:
    samples = synthetic_samples(("di_onset", "di_offset"), batch=3, raw_size=48)
    inputs = prepare_inputs(samples, ("di_onset", "di_offset"), CONFIG)
    assert set(inputs) == {"di_onset", "di_offset"}
    assert inputs["di_onset"].shape == (3, 1, 32, 32) and inputs["di_onset"].dtype == np.float32
    for i, sample in enumerate(samples):
        di, num_frames = sample["di_offset"]
        np.testing.assert_array_equal(inputs["di_offset"][i], to_network_input(di, num_frames, CONFIG))


def test_synthetic_samples_are_real_and_distinct_dis() -> None:
    samples = synthetic_samples(("di_onset", "di_offset", "di_clip"), batch=3, raw_size=48)
    onsets = [s["di_onset"] for s in samples]
    assert all(di.shape == (48, 48, 1) and di.dtype == np.float32 for di, _ in onsets)
    assert not np.allclose(onsets[0].di, onsets[1].di) and not np.allclose(onsets[1].di, onsets[2].di)
    assert all(np.abs(di).max() > 1 for di, _ in onsets)  # there is motion to see
    # Each phase pools its own frame range: T_onset + T_offset = T_clip + 1 (the apex is in both).
    assert all(s["di_onset"].num_frames + s["di_offset"].num_frames == s["di_clip"].num_frames + 1 for s in samples)


def test_extra_keys_are_ignored_and_missing_ones_named() -> None:
    samples = synthetic_samples(("di_onset", "di_offset", "di_clip"), batch=1, raw_size=32)
    assert set(prepare_inputs(samples, ("di_clip",), CONFIG)) == {"di_clip"}
    with pytest.raises(InputError, match=r"sample 0 has no 'di_offset'"):
        prepare_inputs([{"di_onset": samples[0]["di_onset"]}], ("di_onset", "di_offset"), CONFIG)
    with pytest.raises(InputError, match=r"sample 0 'di_clip': expected a \(H, W, C\) image array, got \(2, 3, 4, 1\)"):
        prepare_inputs([{"di_clip": RawDI(np.zeros((2, 3, 4, 1), np.float32), 3)}], ("di_clip",), CONFIG)
    with pytest.raises(InputError, match=r"sample 0 'di_clip': expected RawDI\(di, num_frames\), got ndarray"):
        prepare_inputs([{"di_clip": np.zeros((8, 8, 1), np.float32)}], ("di_clip",), CONFIG)
    with pytest.raises(InputError, match="T >= 1"):
        prepare_inputs([{"di_clip": RawDI(np.zeros((8, 8, 1), np.float32), 0)}], ("di_clip",), CONFIG)
    with pytest.raises(InputError, match="at least one sample"):
        prepare_inputs([], ("di_clip",), CONFIG)


def test_check_network_inputs() -> None:
    good = {"di_clip": np.zeros((2, 1, 32, 32), np.float32)}
    assert check_network_inputs(good, ("di_clip",), (1, 32, 32)) == 2
    with pytest.raises(InputError, match="do not match the engine's"):
        check_network_inputs({"di_onset": good["di_clip"]}, ("di_clip",), (1, 32, 32))
    with pytest.raises(InputError, match=r"is float64 \(2, 1, 32, 32\); the engine takes float32 \(B, 1, 32, 32\)"):
        check_network_inputs({"di_clip": good["di_clip"].astype(np.float64)}, ("di_clip",), (1, 32, 32))
    with pytest.raises(InputError, match="one batch size"):
        check_network_inputs({"a": np.zeros((2, 1, 4, 4), np.float32), "b": np.zeros((3, 1, 4, 4), np.float32)},
                             ("a", "b"), (1, 4, 4))
