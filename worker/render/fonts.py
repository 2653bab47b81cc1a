"""Fonts for titles and subtitles: a name from TextStyle.Font resolved to a font file and face.

The default is Noto Sans CJK SC, shipped by the noto-cjk-sans-otc wheel (SIL OFL 1.1): Chinese,
Japanese, Korean, Latin and digits with real glyphs on a fresh machine, no system package needed.
Folders named by REELMILL_FONT_DIR add fonts, found by family name ("Noto Sans CJK SC"), full name
("Noto Sans CJK SC Regular") or file name without extension ("MyBrand-Bold"), ignoring case, spaces,
hyphens and underscores. A name that matches nothing falls back to the default font (logged).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cache

import noto_cjk_sans_otc
from PIL import ImageFont

log = logging.getLogger(__name__)

BUNDLED_FONT = str(noto_cjk_sans_otc.FONT_PATH)
DEFAULT_FONT = "Noto Sans CJK SC"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
MAX_FACES = 32  # faces looked at in one collection file


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " -_")


class FontBook:
    """Font names to FreeType faces; each (face, size) is loaded once."""

    def __init__(self, dirs: Sequence[str] = (), default: str = DEFAULT_FONT) -> None:
        self.dirs = tuple(d for d in dirs if d)
        self.default = default or DEFAULT_FONT
        self._faces: dict[str, tuple[str, int]] | None = None
        self._warned: set[str] = set()

    def face(self, name: str) -> tuple[str, int]:
        """(file, face index) of the font called `name`, or of the default font."""
        faces = self._catalogue()
        found = faces.get(_key(name)) if name else None
        if found is None:
            if name and name not in self._warned:
                self._warned.add(name)
                log.warning("font %r not found; using %s", name, self.default)
            found = faces.get(_key(self.default)) or (BUNDLED_FONT, 2)
        return found

    def font(self, name: str, size_px: int) -> ImageFont.FreeTypeFont:
        path, index = self.face(name)
        return _load(path, index, size_px)

    def _catalogue(self) -> dict[str, tuple[str, int]]:
        if self._faces is None:
            faces: dict[str, tuple[str, int]] = {}
            files = [BUNDLED_FONT] + [
                os.path.join(root, f)
                for d in self.dirs
                for root, _, names in os.walk(d)
                for f in sorted(names)
                if f.lower().endswith(FONT_SUFFIXES)
            ]
            for path in files:
                for index in range(MAX_FACES):
                    try:
                        family, style = ImageFont.truetype(path, 12, index=index).getname()
                    except OSError:
                        break  # no such face (or not a font): the next file
                    names = [family or "", f"{family} {style}"]
                    if index == 0:
                        names.append(os.path.splitext(os.path.basename(path))[0])
                    # Configured folders win over the bundled font for the same name.
                    for n in names:
                        if n:
                            faces[_key(n)] = (path, index)
            self._faces = faces
        return self._faces


@cache
def _load(path: str, index: int, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px, index=index)
