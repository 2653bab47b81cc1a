"""MediaIds in a document: wherever a document takes media (media arrays, stickers, music, background
pictures, time ranges, recorded voice-overs), a MediaId of the tenant's library stands for its URL.
Pure: the application layer looks the ids up (store/media.py) and this module finds and replaces them.

The configs are read as ICE sends them (JSON, ICE's names); the ids are replaced by their URLs before
validation, so that validation, the stored job and the render commands see URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.errors import FieldViolation

MEDIA_ID = re.compile(r"^[0-9a-f]{32}$")
# Keys whose value (a string, or each string of a list) names a media.
MEDIA_KEYS = frozenset({"MediaArray", "BackgroundMusicArray", "BackgroundImageArray", "BackgroundMusic",
                        "Media", "MediaURL", "MediaId", "SpeechTextArray", "SpeechText"})  # fmt: skip


def media_ids(doc: Any) -> set[str]:
    """The MediaIds a config names, where it takes media."""
    return {value for _, value in _media_values(doc, "")}


def substitute(doc: Any, urls: Mapping[str, str], path: str) -> list[FieldViolation]:
    """Replaces, in place, each MediaId of `urls` by its URL (a sticker's MediaId becomes its MediaURL);
    an id-like value in a media position that `urls` lacks is reported."""
    bad = [FieldViolation(where, f"no media with MediaId {value} in this tenant (RegisterMediaInfo first)")
           for where, value in _media_values(doc, path) if value not in urls]  # fmt: skip
    _replace(doc, urls)
    return bad


def _media_values(doc: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}.{key}" if path else key
            if key in MEDIA_KEYS and isinstance(value, str) and MEDIA_ID.match(value):
                yield where, value
            elif key in MEDIA_KEYS and isinstance(value, list):
                yield from ((f"{where}[{i}]", v) for i, v in enumerate(value)
                            if isinstance(v, str) and MEDIA_ID.match(v))  # fmt: skip
            else:
                yield from _media_values(value, where)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _media_values(item, f"{path}[{i}]")


def _replace(doc: Any, urls: Mapping[str, str]) -> None:
    if isinstance(doc, dict):
        if (
            isinstance(doc.get("MediaId"), str) and doc["MediaId"] in urls
        ):  # a sticker: MediaId wins, as in ICE
            doc["MediaURL"] = urls[doc.pop("MediaId")]
        for key, value in doc.items():
            if key in MEDIA_KEYS and isinstance(value, str):
                doc[key] = urls.get(value, value)
            elif key in MEDIA_KEYS and isinstance(value, list):
                doc[key] = [urls.get(v, v) if isinstance(v, str) else v for v in value]
            else:
                _replace(value, urls)
    elif isinstance(doc, list):
        for item in doc:
            _replace(item, urls)
