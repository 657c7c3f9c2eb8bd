"""The one exception family of the project.

Library code raises a `MerError` subclass whose message names the file (or value) and the
problem in one line; the typer commands turn it into that line and a non-zero exit, never a
traceback.
"""

from __future__ import annotations


class MerError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(MerError):
    """A file or value given by the user cannot be used (missing, unreadable, malformed)."""


class AnnotationError(InputError):
    """A coding sheet cannot be read at all (single bad rows are reported, not raised)."""


class VideoError(InputError):
    """A video or camera cannot be opened or decoded."""


class CheckpointError(InputError):
    """A checkpoint is of an unknown format, version or architecture, or does not match a file."""


class EngineError(MerError):
    """An engine cannot be built or loaded here (missing runtime, wrong GPU, corrupt plan)."""
