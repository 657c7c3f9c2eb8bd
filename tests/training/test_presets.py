from __future__ import annotations

from dataclasses import replace

import pytest

from realtime.core.errors import InputError
from training.models import list_backbones, list_fusions, list_inputs
from training.optim import list_optimisers, list_schedules
from training.presets import PRESETS


@pytest.mark.parametrize(("field", "known"), [("backbone", list_backbones), ("fusion", list_fusions),
                                             ("inputs", list_inputs), ("optimizer", list_optimisers),
                                             ("schedule", list_schedules)])
def test_a_training_config_names_only_registered_entries(field: str, known) -> None:
    assert getattr(PRESETS["paper"], field) in known()
    with pytest.raises(InputError, match=f"unknown .*'nope'; known: {', '.join(known())}"):
        replace(PRESETS["paper"], **{field: "nope"})
