"""The installed mammokit version (bottom layer: any module may read it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]

try:
    VERSION = version("mammokit")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    VERSION = "0+unknown"
