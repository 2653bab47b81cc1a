"""Where outputs are written: temp files beside the final name, moved into place."""

from __future__ import annotations

from pathlib import Path

from worker.output import temp_beside


def test_a_render_removes_only_its_own_stale_temp_files(tmp_path: Path) -> None:
    """Issue 13: the temp file of a render writing x.y.mp4 is not a stale temp of x.mp4."""
    others = tmp_path / ".x.y.0123abcd.partial.mp4"
    mine = tmp_path / ".x.89abcdef.partial.mp4"
    others.write_bytes(b"in flight")
    mine.write_bytes(b"left by a killed attempt")
    temp = temp_beside(tmp_path / "x.mp4")
    assert others.exists() and not mine.exists()
    assert temp.name.startswith(".x.") and temp.name.endswith(".partial.mp4")
