"""The leave-one-subject-out split: one fold per subject, its validation subjects, its seed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from realtime.core.errors import InputError
from training.clip_cache import CachedClip


@dataclass(frozen=True)
class Fold:
    """One leave-one-subject-out split; `val_subjects` is empty when selecting on the test subject."""

    index: int
    test_subject: str
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.index:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.test_subject)}.json"

    @classmethod
    def from_json(cls, data: dict) -> Fold:
        return cls(index=data["index"], test_subject=data["test_subject"],
                   train_subjects=tuple(data["train_subjects"]), val_subjects=tuple(data["val_subjects"]))


def make_folds(subjects: Sequence[str], *, val_fraction: float, select_on_test: bool) -> list[Fold]:
    """One fold per subject; validation = the next k subjects after the test subject (sorted, cyclic).

    k = max(1, round(val_fraction * (n - 1))), and at least one subject is left to train on.
    """
    ordered = sorted(set(subjects))
    n = len(ordered)
    if n < (2 if select_on_test else 3):
        raise InputError(f"leave-one-subject-out needs at least {2 if select_on_test else 3} subjects "
                         f"(test, {'' if select_on_test else 'validation, '}training), got {n}: {ordered}")
    k = 0 if select_on_test else min(n - 2, max(1, round(val_fraction * (n - 1))))
    folds = []
    for i, test in enumerate(ordered):
        val = tuple(ordered[(i + j) % n] for j in range(1, k + 1))
        train = tuple(s for s in ordered if s != test and s not in val)
        folds.append(Fold(index=i, test_subject=test, train_subjects=train, val_subjects=val))
    return folds


def subject_keys(clips: Sequence[CachedClip]) -> list[str]:
    """The subject each clip belongs to; qualified by dataset when clips come from several datasets."""
    composite = len({clip.dataset for clip in clips}) > 1
    return [f"{clip.dataset}/{clip.subject}" if composite else clip.subject for clip in clips]


def clip_key(clip: CachedClip) -> str:
    """dataset/subject/clip, as fold files list the clips they trained and validated on."""
    return f"{clip.dataset}/{clip.subject}/{clip.clip_id}"


def data_fingerprint(clips: Sequence[CachedClip]) -> str:
    """SHA-256 over what the model learns from: clips, labels, phases and frame files (names, sizes)."""
    rows = sorted((c.dataset, c.subject, c.clip_id, c.label, c.positions.onset, c.positions.apex, c.positions.offset,
                   c.source) for c in clips)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def seed_for(seed: int, name: str) -> int:
    """A fold's seed depends on the run's seed and the fold's name only (so resumed folds match)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "little")
