"""docs/job-reference.md lists every field of job_config.proto, in the section of its message, and the
names it lists as implemented are the ones the worker and the gateway know."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gateway import validate
from reelmill import catalog
from reelmill.v1 import job_config_pb2 as cfg
from worker.render import timeline, video

DOC = (Path(__file__).resolve().parents[2] / "docs" / "job-reference.md").read_text(encoding="utf-8")


def section(name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/job-reference.md has no section '## {name}'"
    return match.group(1)


@pytest.mark.parametrize("message", list(cfg.DESCRIPTOR.message_types_by_name))
def test_every_field_is_documented_in_its_message_section(message: str) -> None:
    text = section(message)
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", text, re.M)}
    fields = {f.json_name for f in cfg.DESCRIPTOR.message_types_by_name[message].fields}
    assert fields <= rows, f"{message}: not documented: {sorted(fields - rows)}"
    assert rows <= fields, f"{message}: documented but not in the proto: {sorted(rows - fields)}"


def test_documented_names_are_what_the_worker_implements_and_the_gateway_accepts() -> None:
    # One catalogue serves both sides; the renderer must implement every name in it.
    assert validate.TRANSITIONS is catalog.TRANSITIONS and validate.FILTERS is catalog.FILTERS
    assert set(timeline.COLOR_FILTERS) == set(catalog.FILTERS)
    effects = inspect.getsource(video)
    assert all(f'"{name}"' in effects for name in catalog.VFX_EFFECTS)
    process = section("ProcessConfig")
    for name in catalog.TRANSITIONS + catalog.VFX_EFFECTS + catalog.FILTERS:
        assert f"`{name}`" in process
