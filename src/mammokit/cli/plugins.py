"""``mammokit plugins``: list every plugin, its distribution, version and components."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list registered plugins and the components they provide",
        description="List every registered plugin with its distribution, version and the "
        "components it provides per hook. MAMMOKIT_DISABLE_PLUGINS=name1,name2 blocks "
        "entry-point plugins by entry-point or distribution name.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.plugins import get_components, get_plugin_manager, list_plugins

    pm = get_plugin_manager()
    infos = list_plugins(pm)
    if args.json:
        payload = [
            {
                "name": i.name,
                "distribution": i.distribution,
                "version": i.version,
                "provides": {h: list(n) for h, n in i.provides.items()},
            }
            for i in infos
        ]
        print(json.dumps(payload, indent=2))
        return 0
    for info in infos:
        print(f"{info.name}  ({info.distribution} {info.version})")
        for hook_name, names in sorted(info.provides.items()):
            for name in names:
                description = get_components(pm, hook_name)[name].description
                print(f"    {hook_name:<30} {name:<18} {description}")
    return 0
