"""The README's tree names every module of the four packages, and nothing that is not there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reelmill", "gateway", "worker", "console", "cli")
# Folders the tree names as a whole: generated code, and Alembic's environment and versions.
WHOLE = ("reelmill/v1/", "gateway/migrations/", "console/templates/", "console/static/")


def tree_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## The tree\n\n```\n(.*?)^```", text, re.S | re.M)
    assert match, "README.md has no '## The tree' section with a code block"
    return match.group(1).splitlines()


def named_paths() -> set[str]:
    """Each entry as a path from the root: a line is `NAMES  description`, NAMES one or more names
    separated by ", "; a name ending in / is a folder whose entries follow, indented two more."""
    named: set[str] = set()
    folders: dict[int, str] = {}  # indent -> folder path that lines indented deeper are inside
    for line in tree_block():
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if not body or indent > 8:  # a description carried over to the next line
            continue
        names = re.split(r"\s{2,}", body, maxsplit=1)[0]
        parent = next((folders[i] for i in sorted(folders, reverse=True) if i < indent), "")
        for stale in [i for i in folders if i >= indent]:
            del folders[stale]
        for name in names.split(", "):
            path = parent + name
            named.add(path)
            if name.endswith("/"):
                folders[indent] = path
    return named


def modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and not relative.startswith(WHOLE):
                found.add(relative)
    return found


def test_the_tree_names_every_module() -> None:
    missing = modules() - named_paths()
    assert not missing, f"README.md's tree does not name: {sorted(missing)}"


def test_every_module_the_tree_names_exists() -> None:
    gone = {p for p in named_paths() if p.endswith(".py") and not (ROOT / p).is_file()}
    assert not gone, f"README.md's tree names modules that do not exist: {sorted(gone)}"


def test_the_parser_reads_nested_and_listed_entries() -> None:
    """A guard on the guard: entries inside folders and entries sharing a line are both read."""
    named = named_paths()
    assert {"worker/render/probe.py", "worker/render/text.py", "worker/render/fonts.py",
            "gateway/store/batches.py", "cli/main.py"} <= named  # fmt: skip
