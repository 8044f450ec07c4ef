"""Deprecated aliases for modules that moved to another layer (kept for one release)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["MOVED", "moved_module"]

#: Old module -> where it lives now (issue 15's layers); each old name is an alias module
#: that warns. The API snapshot (tests/api_snapshot.json) records this table.
MOVED: dict[str, str] = {
    "mammokit.evaluate.aggregate": "mammokit.scoring.aggregate",
    "mammokit.evaluate.metrics": "mammokit.scoring.metrics",
    "mammokit.evaluate.metricset": "mammokit.scoring.metricset",
}


def moved_module(old: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old`` that warns and returns the attribute of the
    module it moved to (:data:`MOVED`).

    ``from old import name`` keeps working, with a :class:`DeprecationWarning` naming
    ``new``; an attribute ``new`` lacks raises :class:`AttributeError` as usual.
    """

    new = MOVED[old]

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = importlib.import_module(new)
        if not hasattr(target, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old} moved to {new}; import {name} from there ({old} goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(target, name)

    return __getattr__
