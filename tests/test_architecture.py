"""The house rules of docs/architecture.md, read from the source with ``ast`` (nothing is imported).

- Data flows one way: a stage imports only the stages before it in STAGES.
- No stage calls the runner or knows the command line: nothing outside study/ and cli/ imports them.
- The shared modules (errors, atomic, device, plain) import no stage.
Every import counts, also the lazy ones inside functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ftprobe"
STAGES = ("data", "represent", "finetune", "probe", "compare", "report", "study", "cli")
SHARED = ("errors", "atomic", "device", "plain")


def _unit(path: Path, package: Path = PACKAGE) -> str:
    """The stage (package folder) or shared module a file belongs to."""
    rel = path.relative_to(package)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, ftprobe unit) for every import of ftprobe in the file, relative ones resolved."""
    package = ["ftprobe", *path.relative_to(root).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # ``from ftprobe import atomic`` imports a unit by name
            names = [f"{module}.{a.name}" for a in node.names] if module == "ftprobe" else [module]
        else:
            continue
        out += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("ftprobe.")]
    return out


def _violations(package: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        unit = _unit(path, package)
        if unit in ("__init__", "__main__"):
            continue
        allowed = set(SHARED) | {"__version__"}
        if unit in STAGES:
            allowed |= set(STAGES[: STAGES.index(unit) + 1])
        elif unit in SHARED:
            allowed = set(SHARED)
        for line, target in _imports(path, package):
            if target not in allowed:
                bad.append(f"{path.relative_to(package)}:{line}: {unit} imports {target}")
    return bad


def test_every_unit_is_known():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert units <= set(STAGES) | set(SHARED), "a new stage or shared module: add it to STAGES or SHARED"


def test_imports_follow_the_data_flow():
    assert _violations() == []


@pytest.mark.parametrize("source, unit, target", [
    ("from ftprobe.study.cache import write_json_atomic\n", "report", "study"),
    ("def f():\n    from ftprobe.cli.main import main\n", "probe", "cli"),
    ("from ftprobe import study\n", "compare", "study"),
    ("from ..study import run_study\n", "finetune", "study"),
])
def test_a_backward_import_is_caught(tmp_path, source, unit, target):
    """The check itself can fail: a copy of the package with one backward import is refused."""
    import shutil

    copy = tmp_path / "ftprobe"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("resources", "__pycache__"))
    (copy / unit / "zz_backward.py").write_text(source)
    assert _violations(copy) == [f"{unit}/zz_backward.py:{source.count(chr(10))}: {unit} imports {target}"]


def test_tests_import_the_package_one_way():
    """Test helpers are modules of the tests package (relative imports), not sys.path entries.
    tests/probe is excluded while the DirectProbe reference moves into the package (issue 21)."""
    tests = Path(__file__).resolve().parent
    offenders = [str(p.relative_to(tests)) for p in sorted(tests.rglob("*.py"))
                 if "sys.path.insert" in p.read_text(encoding="utf-8")
                 and p.name != Path(__file__).name]
    assert offenders == []
    folders = {p.parent for p in tests.rglob("test_*.py")} - {tests / "probe"}
    assert all((f / "__init__.py").is_file() for f in folders)


# "--epochs"; not "---|", "a--b", "--", nor CSS custom properties ("--fg:#111", "var(--fg)")
FLAG = re.compile(r"(?<![\w-])(?<!var\()--[a-z][a-z0-9-]*(?![\w-])(?!:\S)")


def _command_line_uses(path: Path) -> list[str]:
    """Where a stage module touches the command line: argparse, sys.argv, a ``--flag`` in a string
    (docstrings aside: they may say how a command uses the stage)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {id(owner.body[0].value) for owner in ast.walk(tree)
                  if isinstance(owner, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and owner.body and isinstance(owner.body[0], ast.Expr)
                  and isinstance(owner.body[0].value, ast.Constant)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{node.lineno}: imports argparse" for m in mods if m.split(".")[0] == "argparse"]
        elif isinstance(node, ast.Attribute) and node.attr == "argv":
            out.append(f"{node.lineno}: reads argv")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out += [f"{node.lineno}: names {flag}" for flag in FLAG.findall(node.value)]
    return sorted(out, key=lambda use: int(use.split(":")[0]))


def test_no_stage_knows_the_command_line():
    """Stages raise SettingError(setting, problem) and let the CLI say the flag (rule 3)."""
    bad = [f"{p.relative_to(PACKAGE)}:{use}" for p in sorted(PACKAGE.rglob("*.py"))
           if _unit(p) not in ("study", "cli", "__main__") for use in _command_line_uses(p)]
    assert bad == []


def test_the_command_line_check_can_fail(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Used as ftprobe x --epochs 3."""\nimport argparse\nimport sys\n\n'
                      'def f(n):\n    """--doc is fine"""\n    print(sys.argv)\n'
                      '    raise ValueError(f"--batch-size {n}: bad; |---|; a--b")\n'
                      'CSS = ":root{--fg:#111}body{color:var(--fg)}"\n'
                      'ERR = "--epochs: must be at least 1"\n')
    assert _command_line_uses(module) == ["2: imports argparse", "7: reads argv", "8: names --batch-size",
                                          "10: names --epochs"]


MAX_CLASS_LINES = 400  # the house rule: no class over ~400 lines (docs/architecture.md)


def _long_classes(folder: Path, limit: int = MAX_CLASS_LINES) -> list[str]:
    """'file:line: Name is N lines' for every class in the folder's modules over ``limit``."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path.relative_to(folder)}:{node.lineno}: {node.name} is {n} lines")
    return out


def test_no_directprobe_class_is_over_400_lines():
    """DirectProbe's engine is parts a newcomer can read (docs/directprobe.md, issue 21)."""
    assert _long_classes(PACKAGE / "probe" / "directprobe") == []


def test_the_class_length_check_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(12))
    (tmp_path / "m.py").write_text(f"class Small:\n    a = 1\n\n\nclass Big:\n{body}\n")
    assert _long_classes(tmp_path, limit=12) == ["m.py:5: Big is 13 lines"]
