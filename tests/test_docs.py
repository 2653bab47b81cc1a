"""docs/operations.md keeps up with the code: its settings table is the parser's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli import settings_doc


def test_the_settings_table_is_current() -> None:
    text = settings_doc.DOC.read_text(encoding="utf-8")
    assert settings_doc.render(text) == text, "the settings table is out of date: run `make docs`"


@pytest.mark.parametrize("command", ["gateway", "worker", "migrate", "dev", "submit"])
def test_every_variable_in_help_is_documented(command: str) -> None:
    out = subprocess.run([sys.executable, "-m", "cli", command, "--help"], capture_output=True,
                         text=True, env={"COLUMNS": "200"}, check=True).stdout  # fmt: skip
    names = set(re.findall(r"REELMILL_[A-Z0-9_]+", out))
    assert names
    doc = settings_doc.DOC.read_text(encoding="utf-8")
    assert {n for n in names if f"`{n}`" not in doc} == set()


def test_every_documented_command_and_flag_exists() -> None:
    """`reelmill COMMAND --flag …` in the README and docs (inline code and code blocks) names a real
    command and real flags of it: the docs cannot promise what the CLI does not have."""
    import re as _re

    from cli.main import build_parser, subcommands

    commands = subcommands(build_parser())
    root = Path(__file__).resolve().parents[1]
    found = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        found += [(path.name, m) for m in _re.findall(r"`(?:\.venv/bin/)?reelmill ([^`\n]+)`", text)]
        blocks = "\n".join(_re.findall(r"^```[a-z]*\n(.*?)^```", text, _re.M | _re.S))
        found += [(path.name, m) for m in _re.findall(r"^(?:\.venv/bin/)?reelmill ([^\n#]+)", blocks, _re.M)]
    assert len(found) > 10
    for where, usage in found:
        words = usage.split()
        if words[0].startswith("<"):  # a placeholder: `reelmill <command> --help`
            continue
        assert words[0] in commands, f"{where}: `reelmill {usage}`: no command {words[0]!r}"
        known = {s for a in commands[words[0]]._actions for s in a.option_strings}
        for flag in (w.split("=")[0] for w in words[1:] if w.startswith("--")):
            assert flag in known, f"{where}: `reelmill {usage}`: {words[0]} has no {flag}"


def test_every_option_and_argument_has_help() -> None:
    """`reelmill COMMAND --help` explains everything it lists (issue 14: several flags had none)."""
    from cli.main import build_parser, subcommands

    missing = [
        f"{name} {a.option_strings or a.dest}"
        for name, parser in subcommands(build_parser()).items()
        for a in parser._actions
        if a.dest != "help" and not a.help
    ]
    assert missing == []
