"""The ``mammokit`` command line.

Each sub-command lives in its own module of this package, which exposes
``register(subparsers)``; that function adds the parser and sets ``func`` to a callable
``(args) -> int`` returning the exit status (0 success, 1 some inputs failed, 2 usage).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from mammokit.core.errors import ConfigError, MammokitError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "plugins",
    "preprocess",
    "inspect",
    "synth",
    "split",
    "pretrain",
    "train",
    "predict",
    "evaluate",
    "explain",
    "demo",
)

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    from mammokit import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="mammokit",
        description="Breast-cancer detection on screening mammograms: preprocess DICOMs, "
        "train ConvNeXtV2, predict per breast, score pF1.",
    )
    parser.add_argument("--version", action="version", version=f"mammokit {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"mammokit.app.cli.{name}")
        module.register(subparsers)
    for command in subparsers.choices.values():  # `mammokit train -v ...` too
        command.add_argument(
            "-v", "--verbose", action="count", default=0, dest="command_verbose",
            help="more logging (also accepted before the command)",
        )  # fmt: skip
    return parser


def _command_parser(
    parser: argparse.ArgumentParser, command: str | None
) -> argparse.ArgumentParser | None:
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        choices = getattr(action, "choices", None) or {}
        if command in choices:
            found: argparse.ArgumentParser = choices[command]
            return found
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command's own usage, not the top-level one
        command = _command_parser(parser, getattr(args, "command", None))
        (command or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    args.verbose += getattr(args, "command_verbose", 0)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.verbose:
        from mammokit.core.tf import TF_LOGS_ENV

        os.environ.setdefault(TF_LOGS_ENV, "1")  # before any command imports TensorFlow
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        status: int = args.func(args)
    except ConfigError as err:
        print(f"mammokit {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except MammokitError as err:
        print(f"mammokit {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mammokit plugins | head`: the reader left, not an error
        # Python flushes stdout at exit; point it at /dev/null so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return status


def run() -> None:  # pragma: no cover - console-script entry
    sys.exit(main())
