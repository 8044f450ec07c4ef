"""Command-line flags generated from an attrs config class, so the two cannot drift.

Every field ``some_name`` of the class becomes ``--some-name``, with its help taken from the
class docstring's ``Attributes:`` section. Values are parsed by kind:

- ``bool``: ``--ema`` / ``--no-ema``;
- ``int`` / ``float`` / ``str``: the value as given (the config's converters check it);
  ``none`` clears a field whose default is None (e.g. ``--pretrained none``);
- a tuple field: comma-separated names (``--metrics pf1,auc``), or the flag repeated for
  fields of ``NAME:PATH`` items (``--external ddsm:/data/ddsm --external ...``);
- a dict or nested config field (``loss_options``, ``augment``, ``metric_options``):
  ``key=value,key=value`` with each value read as a TOML value (``0.1``, ``true``,
  ``"a,b"`` for text holding a comma), dotted keys for one more level
  (``--metric-options pf1.beta=2``), or a JSON object (``--augment '{"hflip": 0}'``).

Only flags that were given become overrides; everything else keeps the ``--config`` TOML or
the class default.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import typing
from collections.abc import Mapping
from typing import Any, cast

import attrs

from mammokit.core.config import toml_value

__all__ = [
    "CLEARED",
    "add_config_flags",
    "config_overrides",
    "field_help",
    "flag_name",
    "parse_mapping",
]

#: Tuple fields given by repeating the flag instead of a comma-separated list.
REPEATED = frozenset({"external"})


def flag_name(field: str) -> str:
    """``"loss_options"`` -> ``"--loss-options"``."""
    return "--" + field.replace("_", "-")


def field_help(cls: type) -> dict[str, str]:
    """Field name -> its one-paragraph description from ``cls``'s ``Attributes:`` section
    (``a, b: text`` describes both ``a`` and ``b``)."""
    # cleandoc: Python 3.13 strips docstring indentation at compile time, 3.10-3.12 do not.
    doc = inspect.cleandoc(cls.__doc__ or "")
    section = doc.partition("Attributes:")[2]
    out: dict[str, str] = {}
    current: list[str] = []
    for line in section.splitlines():
        match = re.match(r"^ {4}([a-z_][\w, ]*):\s*(.*)$", line)
        if match:
            current = [name.strip() for name in match.group(1).split(",")]
            for name in current:
                out[name] = match.group(2).strip()
        elif line.strip() and current:
            for name in current:
                out[name] = f"{out[name]} {line.strip()}"
        elif not line.strip():
            current = []
    return {name: _plain(text) for name, text in out.items()}


def _plain(text: str) -> str:
    """Docstring markup -> terminal text: ``:class:`X``` -> X, ````x```` -> x."""
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return text.replace("``", "")


def _scalar(text: str) -> Any:
    return toml_value(text)


def _split(text: str) -> list[str]:
    """Split on commas outside double quotes, brackets and braces."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "[{":
            depth += 1
        elif not quoted and char in "]}":
            depth -= 1
        elif char == "," and not quoted and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_mapping(text: str) -> dict[str, Any]:
    """``"a=1,b=x,c.d=true"`` or a JSON object -> ``{"a": 1, "b": "x", "c": {"d": True}}``.

    Raises:
        argparse.ArgumentTypeError: not ``key=value`` pairs nor a JSON object.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"not a JSON object: {err}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError("not a JSON object")
        return value
    out: dict[str, Any] = {}
    for item in _split(text):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise argparse.ArgumentTypeError(
                f"expected key=value[,key=value...] or a JSON object, got {item!r}"
            )
        target = out
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise argparse.ArgumentTypeError(f"{key!r}: {parent!r} is not a table")
        target[leaf] = _scalar(raw.strip())
    return out


def _kind(field: attrs.Attribute[Any], hints: Mapping[str, Any]) -> str:
    hint = hints.get(field.name, field.type)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is bool:
        return "bool"
    if origin is dict or attrs.has(hint):
        return "mapping"
    if field.name == "image_size":
        return "text"
    if origin is tuple:
        return "list"
    if hint in (int, float):
        return cast("str", hint.__name__)
    if type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        return f"optional_{inner.__name__}"
    return "text"


#: What ``--flag none`` parses to: "set this field to None" (None itself means "not given").
CLEARED = "\x00none"


def _none_or(convert: Any) -> Any:
    def parse(text: str) -> Any:
        return CLEARED if text.strip().lower() in ("none", "") else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _default(field: attrs.Attribute[Any]) -> str | None:
    """The default as the user would type it, or None when it is not worth showing."""
    value = field.default
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or None
    if value is None or value == "":
        return "none"
    return str(value)


def _choices(field: attrs.Attribute[Any]) -> tuple[str, ...] | None:
    options = getattr(field.validator, "options", None)
    return tuple(options) if isinstance(options, (tuple, list)) else None


def add_config_flags(parser: argparse.ArgumentParser | Any, cls: type) -> list[str]:
    """Add one flag per field of ``cls`` to ``parser`` (all defaulting to None, i.e. "not
    given"); returns the field names."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    names = []
    for field in attrs.fields(cls):
        kind = _kind(field, hints)
        flag = flag_name(field.name)
        text = helps.get(field.name, "")
        default = _default(field)
        if default is not None:
            text = f"{text} (default: {default})"
        text = text.replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": text}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind == "mapping":
            kwargs.update(type=parse_mapping, metavar="KEY=VALUE[,...]")
        elif kind == "list" and field.name in REPEATED:
            kwargs.update(action="append", metavar="VALUE")
            kwargs["help"] = f"{text} (repeatable)"
        elif kind == "list":
            kwargs["metavar"] = "NAME[,NAME...]"
        elif kind in ("int", "float"):
            kwargs.update(type=int if kind == "int" else float, metavar="N")
        elif kind.startswith("optional_"):
            inner = {"int": int, "float": float}.get(kind.split("_", 1)[1], str)
            kwargs.update(type=_none_or(inner), metavar="VALUE|none")
        else:
            choices = _choices(field)
            if choices:
                kwargs["choices"] = choices
            else:
                kwargs["metavar"] = "HxW" if field.name == "image_size" else "VALUE"
        parser.add_argument(flag, **kwargs)
        names.append(field.name)
    return names


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that were given on the command line, and their values
    (``--flag none`` gives None)."""
    given: dict[str, Any] = {}
    for field in attrs.fields(cls):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if isinstance(value, str) and value == CLEARED:
            value = None
        given[field.name] = tuple(value) if isinstance(value, list) else value
    return given


def add_run_flags(parser: argparse.ArgumentParser, cls: type, table: str, title: str) -> None:
    """The flags of a command that writes a run folder: ``--out``, ``--config``, one per
    field of ``cls`` (the ``[table]`` of ``--config``) in a group named ``title``,
    ``--resume`` and ``--quiet``."""
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", metavar="TOML", help=f"a TOML with a [{table}] table")
    options = parser.add_argument_group(
        title,
        f"one flag per [{table}] field (generated from {cls.__name__}); dict options take "
        "key=value[,key=value...] (values read as TOML, dotted keys nest) or a JSON object",
    )
    add_config_flags(options, cls)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN_DIR from its last checkpoint with its saved config",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def run_config_source(
    args: argparse.Namespace, cls: type
) -> tuple[str | None, dict[str, Any], bool]:
    """Where a run command's config comes from: ``(config file or None, overrides, resume)``.

    Resuming without the run's own options given again reads the run's ``config.toml`` (the
    command then refuses any that differ, ``--epochs`` aside); a run killed before its
    config was saved trained nothing, so with options given it starts afresh.
    """
    from mammokit.train.rundir import RunDir

    overrides = config_overrides(args, cls)
    config_path, resume = args.config, bool(args.resume)
    if resume:
        saved = RunDir(args.out).config
        given = bool(args.config) or any(k != "epochs" for k in overrides)
        if saved.exists():
            config_path = config_path if given else str(saved)
        elif given:
            resume = False
    return config_path, overrides, resume
