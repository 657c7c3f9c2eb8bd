"""The method registry: what `mer-train compare` runs, one name per method.

A method is a set of `TrainConfig` fields laid over the comparison's base preset (inputs,
fusion, model kind, ...), so every method trains under the same protocol: the same folds, seeds,
epoch-selection rule, preset size and schedule. A new representation or network registers here
with the fields that select it and `compare` runs it with no change of its own:

    register_method("afn", Method("AFN: TR-DI + MI-DI, adaptive fusion", {"inputs": "tr_mi_di", ...}))

`shuffled` is the control: DIANet with the training labels permuted, which must stay at chance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from realtime.core.errors import InputError
from realtime.core.registry import Registry
from training.presets import TrainConfig

REFERENCE = "dianet"  # every other method's UF1 is compared with this one's (a paired bootstrap)


@dataclass(frozen=True)
class Method:
    """A named configuration: a one-line summary and the TrainConfig fields it sets."""

    summary: str
    changes: Mapping[str, object] = field(default_factory=dict)
    control: bool = False  # a sanity check expected at chance, not a method

    def config(self, base: TrainConfig) -> TrainConfig:
        try:
            return replace(base, **self.changes)
        except TypeError as exc:
            raise InputError(f"method fields {sorted(self.changes)} are not all TrainConfig fields: {exc}") from exc


METHODS: Registry[Method] = Registry("compared method")  # arms of a comparison (model methods: training.models.methods)
register_method = METHODS.add
list_methods = METHODS.names

register_method(REFERENCE, Method("DIANet: DI-Onset + DI-Offset, shared backbone, cross-attention fusion",
                                   {"inputs": "phases", "fusion": "cross_attention"}))
register_method("dianet_concat", Method("DIANet with concatenation instead of cross-attention",
                                        {"inputs": "phases", "fusion": "concat"}))
register_method("clip_di", Method("whole-clip DI, one stream (dual-phase DIs as extra training samples)",
                                  {"inputs": "clip"}))
register_method("clip_di_both", Method("whole-clip DI in both streams, cross-attention fusion",
                                       {"inputs": "clip_both", "fusion": "cross_attention"}))
# DIANet's sibling methods (training.models.methods: each one representation set and one network)
for _name, _summary in (
        ("afn", "AFN: temporal-ranked DI + motion-intensity DI, two branches, learned adaptive fusion"),
        ("cof", "COF: combined optical-flow magnitude of both phases, one plain CNN"),
        ("mm_cof", "MM-COF: COF with magnitude modulation, one plain CNN"),
        ("fmanet", "FMANet: onset and offset flows, learned phase weights and motion attention"),
        ("mesti", "MESTI: one apex-centred rank-pooled image, one plain CNN"),
        ("meganet", "MEGANet: MESTI through a CNN with gradient attention"),
        ("apex", "baseline: the apex frame, one stream"),
        ("flow", "baseline: onset->apex optical flow (u, v, magnitude), one stream")):
    register_method(_name, Method(_summary, {"inputs": _name}))
register_method("shuffled", Method("CONTROL: DIANet with the training labels permuted (expected at chance)",
                                   {"inputs": "phases", "fusion": "cross_attention", "shuffle_labels": True},
                                   control=True))


def resolve_methods(names: str | None) -> list[str]:
    """Comma-separated names (None: every registered method), checked; the reference first when present."""
    chosen = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip())) if names else list(list_methods())
    if not chosen:
        raise InputError("--methods names no method")
    for name in chosen:
        METHODS.check(name)
    return sorted(chosen, key=lambda name: name != REFERENCE)
