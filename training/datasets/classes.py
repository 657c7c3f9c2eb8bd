"""Class maps: sheet emotion -> training label, and the fixed order of the labels.

A class map is a plain mapping from the sheet's estimated emotion (lower-case) to a label, or to
None to drop the emotion. The order of the classes (the network's output order) is the order in
which labels first appear among the map's values, so it is fixed by the map, never by the data:

- "casme2": disgust, happiness, surprise, repression, others   (sadness 4 and fear 2 dropped)
- "samm":   happiness, surprise, anger, contempt, others       (disgust 9, fear 8, sadness 6 dropped;
            the sheet's "Other" is "others")
- "mmew":   happiness, surprise, disgust, fear, sadness, others (anger dropped)
- "megc3":  negative, positive, surprise (MEGC2019 composite: negative = disgust, repression,
            anger, contempt, fear, sadness; others dropped)

The first three are the paper's: every class with fewer than 10 clips in the release dropped.
`load_dataset` also drops, with a warning, any class that ends up with fewer clips than
`min_clips_per_class` in the release at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from realtime.core.errors import InputError

ClassMap = Mapping[str, str | None]

CLASS_MAPS: Mapping[str, ClassMap] = MappingProxyType({
    "casme2": {"disgust": "disgust", "happiness": "happiness", "surprise": "surprise",
               "repression": "repression", "others": "others", "sadness": None, "fear": None},
    "samm": {"happiness": "happiness", "surprise": "surprise", "anger": "anger", "contempt": "contempt",
             "other": "others", "others": "others", "disgust": None, "fear": None, "sadness": None},
    "mmew": {"happiness": "happiness", "surprise": "surprise", "disgust": "disgust", "fear": "fear",
             "sadness": "sadness", "others": "others", "other": "others", "anger": None},
    "megc3": {"disgust": "negative", "repression": "negative", "anger": "negative", "contempt": "negative",
              "fear": "negative", "sadness": "negative", "happiness": "positive", "surprise": "surprise",
              "others": None, "other": None},
})


def normalise_emotion(text: str) -> str:
    """Sheet spelling -> key: 'Happiness ' -> 'happiness'."""
    return " ".join(text.split()).lower()


def resolve_class_map(dataset: str, class_map: ClassMap | str | None) -> dict[str, str | None]:
    """The dataset's own map for None, a named map for a str, else the given mapping (keys normalised)."""
    if class_map is None:
        class_map = dataset
    if isinstance(class_map, str):
        if class_map not in CLASS_MAPS:
            raise InputError(f"unknown class map {class_map!r}; known: {', '.join(CLASS_MAPS)}")
        class_map = CLASS_MAPS[class_map]
    resolved = {normalise_emotion(key): value for key, value in class_map.items()}
    if not any(value is not None for value in resolved.values()):
        raise InputError("the class map keeps no class (every value is None)")
    return resolved


def class_order(class_map: ClassMap) -> tuple[str, ...]:
    """Labels in the order they first appear among the map's values."""
    return tuple(dict.fromkeys(value for value in class_map.values() if value is not None))
