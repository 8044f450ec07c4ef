"""Refuse to start worker processes from the unguarded top level of a script.

Worker processes started with ``forkserver`` or ``spawn`` (mammokit's process pool, a Dask
``LocalCluster``) import the parent's main script again. A script whose calls are not under
``if __name__ == "__main__":`` then runs them again in every worker, and multiprocessing
fails there with a bootstrapping traceback, once per worker, and every image fails after it.
:func:`check_main_guard` finds that case in the parent, before any process is started, from
the script's own source, and raises one error that names the fix.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from types import FrameType

from mammokit.core.errors import ConfigError

__all__ = ["check_main_guard", "unguarded_call_line"]


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    texts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def _guarded_lines(source: str) -> list[tuple[int, int]]:
    """The line ranges of the ``if __name__ == "__main__":`` blocks of a module."""
    return [
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.If) and _is_main_test(node.test)
    ]


def unguarded_call_line() -> tuple[Path, int] | None:
    """``(script, line)`` when the current call comes from a line of the main script's top
    level that is not under ``if __name__ == "__main__":``; None otherwise (a guarded call,
    an interactive session, ``python -c``, a notebook, ``python -m package``: nothing a
    worker would re-run, as multiprocessing's ``spawn`` preparation decides)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if not path or Path(path).stem == "__main__" or (spec and spec.name.endswith("__main__")):
        return None  # no file, or a package's __main__ (python -m): workers do not re-run it
    script = os.path.realpath(path)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name == "<module>"
            and frame.f_globals.get("__name__") == "__main__"
            and os.path.realpath(code.co_filename) == script
        ):
            break
        frame = frame.f_back
    else:
        return None
    line = frame.f_lineno
    try:
        guards = _guarded_lines(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None  # cannot read the script: let multiprocessing speak for itself
    if any(start <= line <= end for start, end in guards):
        return None
    return Path(script), line


def check_main_guard(what: str) -> None:
    """Raise before ``what`` starts worker processes from an unguarded script line.

    Raises:
        ConfigError: naming the script, the line and the fix.
    """
    found = unguarded_call_line()
    if found is None:
        return
    script, line = found
    raise ConfigError(
        f"{script}:{line} starts {what} from the script's top level, outside "
        '`if __name__ == "__main__":`. Each worker process imports the script again and '
        "would run that line again. Put the script's calls under "
        '`if __name__ == "__main__":` (see the README), or pass workers=0 to work in this '
        "process."
    )
