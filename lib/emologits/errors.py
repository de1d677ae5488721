"""One exception family: messages name the file (and line) and the problem.

The CLI prints ``error: <message>`` and exits with status 2 for these; anything else is a bug.
"""
from __future__ import annotations


class EmologitsError(Exception):
    """Base class for every user-facing error (bad input, bad config, missing files)."""


class DataError(EmologitsError):
    """A data set root, label file, vote table or manifest is missing or malformed."""


class ConfigError(EmologitsError):
    """A config or prompt file is missing, malformed, or names something that does not exist."""


class AudioError(EmologitsError):
    """One audio file cannot be used; ``reason`` is a short code counted in run reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DiskFullError(EmologitsError):
    """The disk (or quota) filled up while writing ``path``; nothing half-written was left there."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(message)
        self.path = path
