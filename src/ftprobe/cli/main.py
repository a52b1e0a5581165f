"""Entry point of the ``ftprobe`` command."""

from __future__ import annotations

import importlib
import logging
import os
import sys

from ftprobe import __version__
from ftprobe.cli.framework import build_parser, flag_of, instantiate
from ftprobe.errors import SettingError, UserError

# Each stage's commands live in its own module; importing one registers its commands.
COMMAND_MODULES = (
    "ftprobe.cli.data_commands",
    "ftprobe.cli.represent_commands",
    "ftprobe.cli.probe_commands",
    "ftprobe.cli.finetune_commands",
    "ftprobe.cli.study_commands",
    "ftprobe.cli.directprobe_commands",
    "ftprobe.cli.report_commands",
)
# `ftprobe --help` lists the commands in pipeline order
PIPELINE_ORDER = ("tasks", "finetune", "extract", "store", "probe", "directprobe", "study", "demo", "report")


def main(argv: list[str] | None = None) -> int:
    for name in COMMAND_MODULES:  # every stage is part of the package: a failure here is a bug
        importlib.import_module(name)
    parser = build_parser(version=__version__, order=PIPELINE_ORDER)
    ns = parser.parse_args(argv)
    if getattr(ns, "_command_cls", None) is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=os.environ.get("FTPROBE_LOG", "WARNING"), format="%(message)s")
    try:
        cmd = instantiate(ns)
        result = cmd.run()
        return int(result or 0)
    except UserError as exc:
        if isinstance(exc, SettingError):  # the stage names its setting; say it as a flag
            exc = exc.named(flag_of(ns._command_cls, exc.setting) or exc.setting)
        print(f"ftprobe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftprobe: interrupted (finished steps are kept; run again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
