"""The dataclass -> argparse generator, and the help of every registered command."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from ftprobe.cli import framework
from ftprobe.cli.framework import build_parser, command, instantiate, opt
from ftprobe.cli.main import COMMAND_MODULES, main


def _all_commands():
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            pass
    return sorted(framework.COMMANDS)


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_has_working_help(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert "usage: ftprobe " + " ".join(path) in capsys.readouterr().out


def test_typed_fields_become_options(monkeypatch):
    monkeypatch.setattr(framework, "COMMANDS", {})

    @command("toy run")
    @dataclass
    class Toy:
        """A toy command with 100% coverage."""

        name: str = opt(help="required name")
        count: int = opt(3, help="how many")
        ratio: float = opt(0.5, help="a ratio")
        mode: Literal["a", "b"] = opt("a", help="mode")
        tags: list[str] = opt([], help="tags")
        out: Path | None = opt(None, help="where")
        fast: bool = opt(False, help="go fast")

        def run(self):
            return 0

    parser = build_parser()
    ns = parser.parse_args(["toy", "run", "--name", "x", "--count", "7", "--mode", "b", "--tags", "p", "q",
                            "--out", "o", "--fast"])
    cmd = instantiate(ns)
    assert cmd == Toy(name="x", count=7, ratio=0.5, mode="b", tags=["p", "q"], out=Path("o"), fast=True)
    with pytest.raises(SystemExit):
        parser.parse_args(["toy", "run"])  # --name is required
    with pytest.raises(SystemExit):
        parser.parse_args(["toy", "run", "--name", "x", "--mode", "c"])
    assert isinstance(parser, argparse.ArgumentParser)
