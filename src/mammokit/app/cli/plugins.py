"""``mammokit plugins``: list every plugin, its distribution, version and components."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mammokit.plugins.components import Component, DecoderComponent


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list registered plugins and the components they provide",
        description="List every registered plugin with its distribution, version and the "
        "components it provides per hook, then the plugins that are disabled or failed to "
        "load (with the error). MAMMOKIT_DISABLE_PLUGINS=name1,name2 blocks entry-point "
        "plugins by entry-point or distribution name; MAMMOKIT_STRICT_PLUGINS=1 makes a "
        "plugin that fails to load an error for every command.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


#: Shown after a component whose dependencies are not installed.
UNAVAILABLE = "[not available: its dependencies are not installed]"


def _unavailable(component: Component[Any]) -> bool:
    return isinstance(component, DecoderComponent) and not component.is_available()


def run(args: argparse.Namespace) -> int:
    from mammokit.plugins import HOOK_TYPES, get_plugin_manager, list_plugins

    pm = get_plugin_manager()
    infos = list_plugins(pm)
    components = {name: pm.registered(hook) for name, hook in HOOK_TYPES.items()}
    if args.json:
        payload = [
            {
                "name": i.name,
                "distribution": i.distribution,
                "version": i.version,
                "status": i.status,
                "error": i.error,
                "provides": {h: list(n) for h, n in i.provides.items()},
                "unavailable": sorted(
                    name
                    for h, names in i.provides.items()
                    for name in names
                    if _unavailable(components[h][name])
                ),
            }
            for i in infos
        ]
        print(json.dumps(payload, indent=2))
        return 0
    for info in infos:
        status = "" if info.status == "loaded" else f"  [{info.status}]"
        print(f"{info.name}  ({info.distribution} {info.version}){status}")
        if info.error:
            print(f"    error: {info.error}")
        for hook_name, names in sorted(info.provides.items()):
            for name in names:
                component = components[hook_name][name]
                note = f" {UNAVAILABLE}" if _unavailable(component) else ""
                print(f"    {hook_name:<30} {name:<18} {component.description}{note}")
    return 0
