"""MkDocs hook: render the CLI reference from the real argparse parser at build time.

``docs/cli.md`` holds the marker line ``<!-- mammokit-cli-reference -->``; this hook replaces
it with ``mammokit --help`` and, for every sub-command in ``mammokit.app.cli.COMMANDS``, its
``format_help()``. The page therefore cannot drift from the code. ``tests/test_docs.py``
imports :func:`render` to check that every command is covered.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

MARKER = "<!-- mammokit-cli-reference -->"
#: Fixed help width, so the page does not depend on the terminal that builds it.
WIDTH = 88


def _fixed_width(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    formatter = parser.formatter_class
    parser.formatter_class = functools.partial(formatter, width=WIDTH)  # type: ignore[assignment]
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser``, by name, in registration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _block(title: str, anchor: str, help_text: str) -> str:
    return f"## `{title}` {{#{anchor}}}\n\n```text\n{help_text.rstrip()}\n```\n"


def render() -> str:
    """The Markdown of the whole reference: the top-level help, then one section per command."""
    from mammokit.app.cli import COMMANDS, build_parser

    parser = _fixed_width(build_parser())
    commands = subcommands(parser)
    missing = [name for name in COMMANDS if name not in commands]
    if missing:
        raise RuntimeError(f"COMMANDS lists {missing} but build_parser() does not register them")
    parts = [_block("mammokit", "mammokit", parser.format_help())]
    for name in COMMANDS:
        sub = _fixed_width(commands[name])
        parts.append(_block(f"mammokit {name}", f"mammokit-{name}", sub.format_help()))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """MkDocs event: fill the marker of the CLI page."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
