"""The layout shows the architecture, and stays that way (docs/layout.md):

- a package imports only packages below it in the order docs/layout.md names; the
  packages of one level (the runners and the edges) do not import each other, and no
  package imports the command line, the tests, the benchmarks or the examples;
- an import inside a function says why in a comment (an optional dependency, start-up
  time); none hides behind `noqa: E402`;
- every command of the command line is registered the one way (bounceback/cli.py's
  COMMANDS), and every command in bounceback/commands/ is registered.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

import click

from bounceback.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [["schemas"], ["projections"], ["partitions"], ["ingress"], ["streams", "replay", "gateways", "sendout"],
          ["bounceback"]]
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}
NOT_IMPORTED = {"tests", "bench", "examples"}  # nothing in the packages imports these



def _sources():
    for package in LEVEL:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path.relative_to(ROOT).as_posix(), path.read_text()


def _imports(tree: ast.AST):
    """(node, module name) of every import, wherever it is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node, node.module


def _local_imports(tree: ast.AST):
    """Imports inside a function or a class."""
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for node in ast.walk(scope):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def test_the_order_is_the_one_docs_layout_md_names():
    order = " < ".join(", ".join(packages) for packages in LAYERS)
    assert f"`{order}`" in (ROOT / "docs" / "layout.md").read_text()


def test_every_package_is_in_the_order_and_in_the_wheel():
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_IMPORTED
    assert packages == set(LEVEL)
    for package in packages:
        assert f'"{package}*"' in pyproject, package


def test_no_package_imports_one_at_its_level_or_above():
    wrong = []
    for package, path, text in _sources():
        for node, module in _imports(ast.parse(text)):
            top = module.split(".")[0]
            if top in NOT_IMPORTED or (top in LEVEL and top != package and LEVEL[top] >= LEVEL[package]):
                wrong.append(f"{path}:{node.lineno}: {package} imports {module}")
    assert wrong == []


def test_an_import_inside_a_function_says_why():
    unexplained = set()
    for _, path, text in _sources():
        lines = text.splitlines()
        for node in _local_imports(ast.parse(text)):
            above = node.lineno - 2  # the comment may stand above the block of imports it is about
            while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
                above -= 1
            said = "#" in lines[node.lineno - 1] or lines[above].strip().startswith("#")
            if not said:
                module = node.names[0].name if isinstance(node, ast.Import) else node.module
                unexplained.add((path, module))
    assert unexplained == set()


def test_no_import_hides_behind_noqa_e402():
    assert [path for _, path, text in _sources() if re.search(r"noqa:?\s*E402", text)] == []


def test_every_command_is_registered_the_one_way():
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        assert main.get_command(ctx, name).name == name
    registered = {tuple(where.split(":")) for where in COMMANDS.values()}
    for path in sorted((ROOT / "bounceback" / "commands").glob("*.py")):
        module = importlib.import_module(f"bounceback.commands.{path.stem}")
        for attribute, value in vars(module).items():
            if isinstance(value, click.Command) and value.callback.__module__ == module.__name__:
                assert (module.__name__, attribute) in registered, f"{module.__name__}.{attribute} is not in COMMANDS"


def test_the_readme_layout_table_lists_every_folder_and_only_those():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([^`/]+)/` \|", table, re.M)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {path.split("/")[0] for path in tracked.splitlines() if "/" in path and not path.startswith(".")}
    assert sorted(listed) == sorted(folders)
    assert len(listed) == len(set(listed))
