"""Reading a config as ICE clients send it (a JSON string, or the typed message): every value of the wrong
type is reported with its own path, before the rules of validate.py run. A field that neither ICE's
documents nor reelmill know is ignored, as ICE's services ignore what they do not read, and listed
(Violations.ignored) so that the response and the log say so: a typo does not pass unseen."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.errors import Violations

M = TypeVar("M", bound=Message)
# ICE's AI matching: reelmill does not do it and says so rather than ignoring it.
UNSUPPORTED_FIELDS = frozenset(
    {"MediaSearchInput", "SceneInfo", "HighlightStrategy", "MediaSearchStrategy", "SmartMixConfig"}
)


def read_config(v: Violations, req: Message, oneof: str, name: str, kind: type[M]) -> M | None:
    """The typed config, parsing the JSON form (as ICE clients send it) when that was given; None
    when it could not be read, so that no check reports the fields it seems to lack."""
    which = req.WhichOneof(oneof)
    if which is None:
        return kind()
    if not which.endswith("_json"):
        return getattr(req, which)
    text = getattr(req, which)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        v.add(name, f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}")
        return None
    except RecursionError:  # thousands of nested arrays: no config is shaped like that
        v.add(name, "nested too deeply")
        return None
    if not isinstance(doc, dict):
        v.add(name, "must be a JSON object")
        return None
    before = len(v.items)
    for path in _unsupported_paths(doc, name):
        v.add(path, "not supported: reelmill does not do AI media matching")
    if len(v.items) == before:
        descriptor = kind.DESCRIPTOR
        assert isinstance(descriptor, Descriptor)  # upb's descriptors pass too (DescriptorMetaclass)
        _check_shape(v, doc, descriptor, name)
    if len(v.items) > before:
        return None
    message = kind()
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except json_format.ParseError as e:  # what the shape check missed, reported as the parser sees it
        v.add(name, str(e))
        return None
    return message


_INTEGER_TYPES = frozenset({
    FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64,
})  # fmt: skip
_FLOAT_TYPES = frozenset({FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE})


def _check_shape(v: Violations, doc: dict[str, Any], descriptor: Descriptor, path: str) -> None:
    """Every value of the wrong type, each with its own path (the protobuf parser stops at the first and
    names only the top-level config), and every unknown field, to ignore."""
    by_name = {f.json_name: f for f in descriptor.fields} | {f.name: f for f in descriptor.fields}
    for key, value in doc.items():
        field = by_name.get(key)
        where = f"{path}.{key}"
        if field is None:
            v.ignore(where)
        elif value is None:
            continue
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            if not isinstance(value, dict):
                v.add(where, "must be a JSON object")
                continue
            value_field = field.message_type.fields_by_name["value"]
            for k, item in value.items():
                if field.message_type.fields_by_name["key"].cpp_type in _INTEGER_TYPES and not k.isdigit():
                    v.add(f"{where}.{k}", "keys must be numbers")
                else:
                    _check_value(v, item, value_field, f"{where}.{k}")
        elif field.is_repeated:
            if not isinstance(value, list):
                v.add(where, "must be a JSON array")
                continue
            for i, item in enumerate(value):
                _check_value(v, item, field, f"{where}[{i}]")
        else:
            _check_value(v, value, field, where)


def _check_value(v: Violations, value: Any, field: FieldDescriptor, where: str) -> None:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        assert field.message_type is not None  # every message field has one
        if isinstance(value, dict):
            _check_shape(v, value, field.message_type, where)
        else:
            v.add(where, "must be a JSON object")
    elif cpp == FieldDescriptor.CPPTYPE_STRING:
        if not isinstance(value, str):
            v.add(where, "must be a string")
    elif cpp == FieldDescriptor.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            v.add(where, "must be true or false")
    elif cpp in _INTEGER_TYPES:
        if not _is_number(value) or float(value) != int(float(value)):
            v.add(where, "must be a whole number")
    elif cpp in _FLOAT_TYPES and not _is_number(value):
        v.add(where, "must be a number (or a numeric string)")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _unsupported_paths(doc: Any, path: str) -> Iterable[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in UNSUPPORTED_FIELDS:
                yield f"{path}.{key}"
            else:
                yield from _unsupported_paths(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _unsupported_paths(item, f"{path}[{i}]")
