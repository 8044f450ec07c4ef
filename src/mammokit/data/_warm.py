"""Imports done once in the fork server, so that every worker process starts warm.

The pool's ``forkserver`` preloads this module; workers forked from it then skip the
imports (pydicom's pixel backends, Pillow's format plugins, the built-in plugins) that the
first image would otherwise pay for in each worker.
"""

from __future__ import annotations

import contextlib
import importlib

from mammokit.data import _job  # noqa: F401  (the job function itself)
from mammokit.plugins import BUILTIN_PLUGINS


def _warm() -> None:
    for name in (*BUILTIN_PLUGINS, "mammokit.preprocess.pipeline", "pydicom.pixels"):
        with contextlib.suppress(ImportError):  # a missing optional part is imported lazily
            importlib.import_module(name)
    getattr(importlib.import_module("mammokit.dicom"), "decode_file", None)  # lazy package
    from PIL import Image

    Image.init()


_warm()
