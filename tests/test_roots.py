"""One rule for which local paths a job may name (reelmill/roots.py), as both sides use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmill.roots import file_path, is_under, normalised, real


@pytest.mark.parametrize(
    ("path", "roots", "expected"),
    [
        ("/srv/media/a.mp4", ["/srv/media"], True),
        ("/srv/media", ["/srv/media"], True),
        ("/srv/media/a.mp4", ["/srv/media/"], True),  # a root written with its slash
        ("/srv/media2/a.mp4", ["/srv/media"], False),  # a sibling that shares the prefix
        ("/srv/a.mp4", ["/srv/media", "/srv"], True),  # any of several
        ("/etc/passwd", ["/"], True),  # the whole disk, if configured so
        ("/srv/media/a.mp4", ["", ""], False),  # unset roots allow nothing
        ("/srv/media/a.mp4", [], False),
    ],
)
def test_a_path_is_under_a_root_or_not(path: str, roots: list[str], expected: bool) -> None:
    assert is_under(path, roots) is expected


def test_the_gateway_reads_paths_as_text_and_the_worker_as_files(tmp_path: Path) -> None:
    assert file_path("file:///srv/media/a%20b.mp4") == "/srv/media/a b.mp4"
    assert normalised("/srv//media/./a.mp4") == "/srv/media/a.mp4"
    inside, outside = tmp_path / "media", tmp_path / "secret"
    inside.mkdir()
    outside.mkdir()
    (inside / "link.mp4").symlink_to(outside / "x.mp4")
    link = str(inside / "link.mp4")
    assert is_under(normalised(link), [str(inside)])  # as text it looks inside
    assert not is_under(real(link), [real(str(inside))])  # resolved, it leads out
