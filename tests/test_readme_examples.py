"""The README's examples are what the commands print. In a fenced block, a line `$ bounceback ...`
is run (in order, in a directory holding examples/, so one example can use another's output)
and the lines after it, up to the next `$` line or the end of the block, must be its output
(standard output and standard error, as a terminal shows them); a line `...` stands for any
number of lines."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from bounceback.cli import main

ROOT = Path(__file__).resolve().parent.parent


def readme_examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every `$ bounceback` line of a fenced block."""
    examples: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = []
                examples.append((line[2:], current))
            elif current is not None:
                current.append(line.rstrip())
    return examples


def output_matches(expected: list[str], actual: str) -> bool:
    pattern = "".join(r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n" for line in expected)
    actual_lines = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return re.fullmatch(pattern, actual_lines) is not None


def test_the_matching_itself():
    assert output_matches(["a", "...", "d"], "a\nb\nc\nd\n")
    assert output_matches(["a", "...", "b"], "a\nb\n")
    assert not output_matches(["a", "d"], "a\nb\nd\n")
    assert not output_matches(["a", "...", "d"], "a\nb\nc\n")
    assert readme_examples("text\n```\n$ bounceback x\nout 1\n$ bounceback y\n```\n$ not in a block\n") == [
        ("bounceback x", ["out 1"]), ("bounceback y", [])]


def test_every_readme_example_is_what_the_command_prints(tmp_path, monkeypatch):
    examples = readme_examples((ROOT / "README.md").read_text())
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    for name in ("KAFKA_BOOTSTRAP", "BOUNCEBACK_TOPIC_PREFIX", "BOUNCEBACK_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    wrong = []
    for command, expected in examples:
        args = shlex.split(command)
        assert args[0] == "bounceback", command
        result = CliRunner().invoke(main, args[1:], terminal_width=200)
        if result.exit_code != 0 or not output_matches(expected, result.output):
            wrong.append(f"$ {command}\n(exit {result.exit_code})\n{result.output}")
    assert not wrong, "README examples that differ from the output (shown):\n\n" + "\n".join(wrong)
    checked = {shlex.split(command)[1] for command, _ in examples}
    assert {"replay", "explain", "import-bounce-list", "plan-sendout"} <= checked
