"""Install a plugin for the processes a test starts, the way pip would, without pip.

:func:`install_plugin` writes a module and a ``<name>-<version>.dist-info`` folder (METADATA
and ``entry_points.txt``) into a site folder; a process with that folder on ``PYTHONPATH``
finds the plugin through ``importlib.metadata``, as it finds a pip-installed one.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path


def install_plugin(site: Path, module: str, source: str, *, distribution: str) -> Path:
    """Write ``<site>/<module>.py`` and its distribution record; return ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[mammokit]\n{distribution} = {module}\n", encoding="utf-8"
    )
    return site


def env_with(*sites: Path) -> dict[str, str]:
    """This process's environment with ``sites`` first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), *filter(None, [env.get("PYTHONPATH")])])
    return env
