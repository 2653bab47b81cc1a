"""docs/operations.md keeps up with the code: its settings table is the parser's."""

from __future__ import annotations

import re
import subprocess
import sys

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
