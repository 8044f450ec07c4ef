"""The exceptions mammokit raises.

Every error a user can meet is a :class:`MammokitError`. Callers that process many files
catch that one class, record the failure and go on; anything else escaping is a bug.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DicomDecodeError",
    "ImageReadError",
    "MammokitError",
    "OutputWriteError",
    "PluginError",
    "ResourceLimitError",
]


class MammokitError(Exception):
    """Base class of every error raised by mammokit."""


class ConfigError(MammokitError, ValueError):
    """A configuration value, component name, table or command-line argument is invalid."""


class PluginError(MammokitError):
    """A plugin failed to load, register, or conflicts with another plugin."""


class ImageReadError(MammokitError):
    """An input image could not be read or decoded.

    Attributes:
        path: the file that failed, as given.
        cause: a short description of what went wrong.
    """

    def __init__(self, path: object, cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keeps the error picklable across process pools with its two arguments.
        return (type(self), (self.path, self.cause))


class DicomDecodeError(ImageReadError):
    """A DICOM file is unreadable, lacks a needed tag, or its pixel data cannot be decoded."""


class ResourceLimitError(ImageReadError):
    """An image header claims more pixels or bytes than the configured limits allow."""


class OutputWriteError(MammokitError, OSError):
    """An output of a batch run could not be written (e.g. the disk is full).

    Both a :class:`MammokitError` and an :class:`OSError` carrying the original ``errno``;
    everything already written is whole, so rerunning once there is room resumes the run.
    """
