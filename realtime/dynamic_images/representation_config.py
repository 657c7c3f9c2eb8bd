"""The choices behind the method family's representations, as named fields (docs/methods.md).

The papers that define MI-DI, COF, MM-COF and MESTI give no formulas beyond their abstracts and
third-party summaries, so every gap we filled is a field here, saved in every checkpoint and
engine (inside DIInputConfig), so the pipeline builds at event close exactly what training saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.core.errors import InputError

FLOW_METHODS = ("tvl1", "dis")
MI_SPANS = ("onset_offset", "onset_apex")
MI_REFERENCES = ("line", "onset", "previous")
MODULATIONS = ("soft", "hard")


@dataclass(frozen=True)
class RepresentationConfig:
    """How MI-DI, the flows, COF, MM-COF and MESTI are computed (our choices; the papers do not say)."""

    flow_method: str = "tvl1"  # TV-L1, the MER field's flow (STSTNet, Bi-WOOF); "dis": 20-400x cheaper (bench_flow.py)
    flow_gain: float = 10.0  # grey levels per pixel of flow: puts u, v, |f| on the scale of DIANet's noise floor
    mi_span: str = "onset_offset"  # MI-DI pools these frames (AFN: not stated)
    mi_reference: str = "line"  # MI-DI intensity m_t = mean |G(I_t) - G(reference_t)|; reference_t: "line", the
    #                             straight line from the onset frame to the offset frame at t (a slow drift of pose
    #                             or light over the event cancels: in continuous video "onset" ranks by time, not
    #                             by the movement; docs/methods.md), "onset" the onset frame, "previous" frame t - 1
    mi_blur_sigma: float = 1.0  # pixels; G above, a light blur so sensor noise does not rank frames
    cof_theta_onset: float = 0.5  # COF weight of the onset->apex magnitude (the papers' theta_1: not found)
    cof_theta_offset: float = 0.5  # COF weight of the apex->offset magnitude (theta_2)
    minmax_floor: float = 0.05  # pixels: a phase magnitude spanning less is not stretched to full scale (the
    #                             papers divide by max - min; near 0 that blows noise up, and 0 motion gives 0)
    mm_tau_percentile: float = 60.0  # MM-COF threshold tau: this per-sample percentile of M_c
    mm_sharpness: float = 20.0  # MM-COF soft threshold W = sigmoid(k (M_c - tau)), k per unit of normalised M_c
    mm_modulation: str = "soft"  # "soft": M_c W; "hard": M_c 1[M_c >= tau]

    def __post_init__(self) -> None:
        for name, value, allowed in (("flow_method", self.flow_method, FLOW_METHODS),
                                     ("mi_span", self.mi_span, MI_SPANS),
                                     ("mi_reference", self.mi_reference, MI_REFERENCES),
                                     ("mm_modulation", self.mm_modulation, MODULATIONS)):
            if value not in allowed:
                raise InputError(f"representation {name} {value!r} is not one of {', '.join(allowed)}")
        if self.flow_gain <= 0 or self.mi_blur_sigma < 0 or self.minmax_floor <= 0 or self.mm_sharpness <= 0:
            raise InputError("representation flow_gain, minmax_floor and mm_sharpness must be positive and "
                             "mi_blur_sigma >= 0")
        if self.cof_theta_onset < 0 or self.cof_theta_offset < 0 or self.cof_theta_onset + self.cof_theta_offset <= 0:
            raise InputError(f"COF weights must be >= 0 and not both 0, got {self.cof_theta_onset}, "
                             f"{self.cof_theta_offset}")
        if not 0.0 <= self.mm_tau_percentile <= 100.0:
            raise InputError(f"mm_tau_percentile must be in [0, 100], got {self.mm_tau_percentile}")
