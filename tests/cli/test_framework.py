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
        importlib.import_module(name)
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


def test_flag_of_maps_a_stage_setting_to_its_option():
    @dataclass
    class Cmd:
        out: Path = opt(help="run folder", setting="out_dir")
        word_pooling: str = opt("mean", help="pooling")
        json_out: str = opt("", flag="--json", help="json")
        config: str = opt("", positional=True, help="config")

    assert framework.flag_of(Cmd, "out_dir") == "--out"
    assert framework.flag_of(Cmd, "word_pooling") == "--word-pooling"
    assert framework.flag_of(Cmd, "json_out") == "--json"
    assert framework.flag_of(Cmd, "config") == "CONFIG"
    assert framework.flag_of(Cmd, "epochs") is None
    p = argparse.ArgumentParser()
    for f in __import__("dataclasses").fields(Cmd):  # "setting" is not passed on to argparse
        framework._add_field(p, f, {"out": Path, "word_pooling": str, "json_out": str, "config": str})


def test_cli_says_a_stage_setting_as_its_flag(tiny_bert, tmp_path, capsys):
    from ftprobe.data.samples import sample_path

    argv = ["extract", "--model", str(tiny_bert), "--task", "trec-6", "--data", str(sample_path("trec")),
            "--store", str(tmp_path / "store"), "--no-progress", "--max-sentences", "4"]
    assert main([*argv, "--layers", "99"]) == 2
    assert capsys.readouterr().err.strip() == "ftprobe: error: --layers: layer 99 out of range 0..2"
    assert main([*argv, "--batch-size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "ftprobe: error: --batch-size: must be at least 1, not 0"
