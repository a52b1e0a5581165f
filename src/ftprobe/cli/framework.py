"""A small generator of argparse sub-commands from typed dataclasses.

Each command is a dataclass whose fields are its options (the docstring is its help, a field's
``metadata["help"]`` the option's help) and whose ``run()`` does the work. Stage modules register
commands with ``@command("name")`` or ``@command("group name")``; heavy imports stay inside ``run``
so that ``ftprobe --help`` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

COMMANDS: dict[tuple[str, ...], type] = {}


def command(name: str):
    """Register a dataclass as the sub-command ``name`` (space-separated words nest)."""

    def register(cls):
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        COMMANDS[tuple(name.split())] = cls
        return cls

    return register


def opt(default: Any = dataclasses.MISSING, help: str = "", **kw) -> Any:
    """A dataclass field with CLI help; ``positional=True`` makes it an argument, not an option."""
    meta = {"help": help, **kw}
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _unwrap_optional(tp):
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field, hints: dict) -> None:
    tp, _optional = _unwrap_optional(hints[f.name])
    meta = dict(f.metadata)
    help_text = meta.pop("help", "")
    positional = meta.pop("positional", False)
    flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
    meta.pop("setting", None)
    aliases = meta.pop("aliases", ())
    help_text = _escape(help_text)
    kwargs: dict[str, Any] = {"help": help_text}
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    default = (
        f.default if f.default is not dataclasses.MISSING
        else f.default_factory() if f.default_factory is not dataclasses.MISSING
        else None
    )
    origin = get_origin(tp)
    if tp is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
        kwargs["default"] = bool(default)
    elif origin is list:
        (inner,) = get_args(tp)
        kwargs["nargs"] = "+" if not has_default else "*"
        kwargs["type"] = _scalar(inner)
        if has_default:
            kwargs["default"] = default
    elif origin is Literal:
        kwargs["choices"] = list(get_args(tp))
        kwargs["type"] = type(get_args(tp)[0])
        if has_default:
            kwargs["default"] = default
    else:
        kwargs["type"] = _scalar(tp)
        if has_default:
            kwargs["default"] = default
    if has_default and default not in (None, [], False) and help_text:
        kwargs["help"] = f"{help_text} (default: {default})"
    kwargs.update(meta)
    if positional:
        if has_default:
            kwargs["nargs"] = "?"
        parser.add_argument(f.name, **kwargs)
    else:
        if not has_default:
            kwargs["required"] = True
        parser.add_argument(flag, *aliases, dest=f.name, **kwargs)


def parse_layers(tokens: list[str], flag: str = "--layers") -> list[int] | None:
    """``--layers all`` -> None; ``--layers 1,2 -1`` (commas or spaces) -> [1, 2, -1]."""
    if tokens in (["all"], []):
        return None
    out = []
    for tok in tokens:
        for part in str(tok).replace(",", " ").split():
            try:
                out.append(int(part))
            except ValueError:
                from ftprobe.errors import UserError

                raise UserError(f"{flag}: {part!r} is not 'all' or an integer") from None
    return out


def flag_of(cls, setting: str) -> str | None:
    """The option of command ``cls`` that sets the stage setting ``setting`` (None: none does).

    A field sets the setting of its own name, or the one named by ``opt(..., setting=NAME)``."""
    for f in dataclasses.fields(cls):
        if f.name == setting or f.metadata.get("setting") == setting:
            if f.metadata.get("positional"):
                return f.name.upper()
            return f.metadata.get("flag", "--" + f.name.replace("_", "-"))
    return None


def _escape(text: str) -> str:
    """argparse %-formats help strings; a literal % must be doubled."""
    return text.replace("%", "%%")


def _scalar(tp):
    if tp in (int, float, str):
        return tp
    if tp is Path:
        return Path
    if get_origin(tp) is Literal:
        return type(get_args(tp)[0])
    return str


def build_parser(prog: str = "ftprobe", version: str = "", order: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """``order``: top-level commands in the order ``--help`` lists them (others follow, sorted)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="How fine-tuning changes the representations of an encoder."
    )
    if version:
        parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    subparsers: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="_cmd0", metavar="COMMAND")
    }
    groups: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    rank = {name: i for i, name in enumerate(order)}
    for path in sorted(COMMANDS, key=lambda p: (rank.get(p[0], len(rank)), p)):
        cls = COMMANDS[path]
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in groups:
                group = subparsers[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group
                subparsers[prefix] = group.add_subparsers(dest=f"_cmd{depth}", metavar="COMMAND")
        doc = (cls.__doc__ or "").strip()
        sub = subparsers[path[:-1]].add_parser(
            path[-1], help=_escape(" ".join(doc.split("\n\n")[0].split())) if doc else "",
            description=doc,  # argparse %-formats a description only where it holds %(prog)
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init and not f.name.startswith("_"):
                _add_field(sub, f, hints)
        sub.set_defaults(_command_cls=cls)
    return parser


def instantiate(ns: argparse.Namespace):
    cls = ns._command_cls
    values = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if f.init and hasattr(ns, f.name)}
    return cls(**values)
