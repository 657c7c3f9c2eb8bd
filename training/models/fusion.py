"""How DIANet's two streams are fused (the paper's Fig. 2 and its Table 3 ablation).

Each stream arrives as tokens (B, N, D): its backbone's last feature map, one D-dim token per
spatial position (N = h * w, 49 at 224 px). Attention between the two pooled 512-d vectors alone
would be degenerate: a softmax over a single key is 1 whatever the query, so the query and key
projections would never get a gradient. Attending over the other stream's spatial tokens keeps
the paper's design meaningful: every position of one phase looks up the positions of the other
phase it matches, e.g. where the movement of the onset phase is undone in the offset phase.

- `cross_attention`: each stream queries the other through learned query/key/value projections
  (shared by both directions: stream order is kept by the concatenation that follows);
  softmax(Q1 K2^T / sqrt(D)) V2 is added to stream 1's tokens (residual), then the tokens are
  averaged; likewise for stream 2.
- `simple_attention`: the same without projections (plain dot product + residual), Table 3.
- `concat`: no interaction; the pooled vectors f1, f2 go straight to the concatenation.

Every variant returns one D-dim vector per stream; DIANet concatenates and projects them.
Attention is plain matmul + softmax so that it exports to ONNX unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from realtime.core.registry import Registry

FusionFactory = Callable[[int], nn.Module]  # token width D -> (t1, t2) -> (a1, a2), each (B, D)
FUSIONS: Registry[FusionFactory] = Registry("fusion")  # listed in registration order: the paper's first (Table 3)
list_fusions = FUSIONS.names
check_fusion = FUSIONS.check


def _attend(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """(B, N, D) queries over (B, M, D) keys/values -> (B, N, D)."""
    weights = (query @ key.transpose(1, 2) * query.shape[-1] ** -0.5).softmax(dim=-1)  # (B, N, M)
    return weights @ value


@FUSIONS.register("cross_attention")
class CrossAttentionFusion(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def attend(self, tokens: Tensor, other: Tensor) -> Tensor:
        context = _attend(self.query(tokens), self.key(other), self.value(other))  # (B, N, D)
        return (tokens + context).mean(dim=1)  # (B, D)

    def forward(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        return self.attend(t1, t2), self.attend(t2, t1)


@FUSIONS.register("simple_attention")
class SimpleAttentionFusion(nn.Module):
    def __init__(self, dim: int) -> None:  # no weights; `dim` keeps the registry's one signature
        super().__init__()

    def forward(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        return (t1 + _attend(t1, t2, t2)).mean(dim=1), (t2 + _attend(t2, t1, t1)).mean(dim=1)


@FUSIONS.register("concat")
class ConcatFusion(nn.Module):
    def __init__(self, dim: int) -> None:  # no weights; `dim` keeps the registry's one signature
        super().__init__()

    def forward(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        return t1.mean(dim=1), t2.mean(dim=1)


def create_fusion(name: str, dim: int) -> nn.Module:
    return FUSIONS[name](dim)
