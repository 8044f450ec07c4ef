"""A test-only hook: SIGKILL this process at a named point (read by the resume tests).

``MAMMOKIT_TEST_KILL_AT="<point>:<n>"`` kills the process the ``n``-th time (1-based, in
this process) it passes ``<point>``:

- ``batch``: at the start of a training step, before it runs;
- ``validation``: after a validation batch is predicted, mid-validation;
- ``checkpoint``: after a commit's files are all written, before its commit point;
- ``commit``: after one file of a commit is moved into place (a half-moved commit).

Unset (always, outside tests) it costs one dictionary look-up per call.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_ENV", "point"]

#: The environment variable the resume tests set.
KILL_ENV = "MAMMOKIT_TEST_KILL_AT"

_counts: dict[str, int] = {}


def point(name: str) -> None:
    """Count one pass of ``name``; SIGKILL the process if the hook says so."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
