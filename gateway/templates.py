"""Batch-editing templates in a submit: what a template may give, how it merges under the request's
configs, and which template each variant uses."""

from __future__ import annotations

import json
import random
from typing import TypeVar

from google.protobuf.message import Message

from gateway.errors import FieldViolation, InvalidArgumentError

M = TypeVar("M", bound=Message)

# A template gives assets and settings, never the media pool, the texts, where outputs go or how many.
INPUT_FIELDS = frozenset(
    {"sticker_array", "background_music_array", "background_image_array", "sticker", "background_music"}
)
OUTPUT_EXCLUDED = frozenset({"media_url", "count"})
MAX_PER_JOB = 20
MAX_NAME_CHARS = 128


def chosen(seed: int, index: int, templates: int) -> int:
    """The template variant `index` uses: drawn by the seed, so a batch's choice never changes."""
    return random.Random(f"{seed}:template:{index}").randrange(templates)


def overlay(base: M, top: M) -> M:
    """`top` over `base`, field by field: what `top` sets wins (a non-empty list replaces the base's
    list rather than adding to it); messages merge recursively, maps key by key."""
    merged = type(base)()
    merged.CopyFrom(base)
    for field, value in top.ListFields():
        target = getattr(merged, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(overlay(target[key], item) if key in target else item)
                else:
                    target[key] = item
        elif field.is_repeated:
            merged.ClearField(field.name)
            getattr(merged, field.name).extend(value)
        elif field.message_type is not None:
            target.CopyFrom(overlay(target, value))
        else:
            setattr(merged, field.name, value)
    return merged


def template_ids(value: str) -> list[str]:
    """TemplateConfig as ICE clients send it: a JSON array of ids in a string (or a comma list)."""
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            ids = json.loads(value)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError([FieldViolation("TemplateConfig", f"malformed JSON: {e.msg}")]) from e
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidArgumentError([FieldViolation("TemplateConfig", "must be a JSON array of ids")])
        return ids
    return [i.strip() for i in value.split(",") if i.strip()]
