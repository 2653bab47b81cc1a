"""The console's vendored front-end files are the ones recorded (console/static/SHA256SUMS), and every
file a page asks for is served from the package: the console works offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from console.pages import STATIC

STATIC_DIR = Path(__file__).resolve().parents[1] / "console" / "static"
TEMPLATES = Path(__file__).resolve().parents[1] / "console" / "templates"


def test_vendored_files_match_their_recorded_checksums() -> None:
    recorded = dict(line.split()[::-1] for line in (STATIC_DIR / "SHA256SUMS").read_text().splitlines())
    assert set(recorded) == {"htmx.min.js", "htmx-sse.min.js"}
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name


def test_pages_load_nothing_from_another_origin() -> None:
    for page in TEMPLATES.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", text), page.name
        for asset in re.findall(r"""/static/([\w.-]+)""", text):
            assert asset in STATIC and (STATIC_DIR / asset).is_file(), (page.name, asset)
