"""Job files as the command line reads them: one JSON object, with `file:` paths relative to the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote


def load_job_file(path: str) -> dict[str, Any]:
    """The job file as a dict; raises ValueError with a readable reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ValueError(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot be read: {e}") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: must hold a JSON object")
    return doc


def resolve_files(value: Any, base_dir: str) -> Any:
    """`file:name` (no `//`) made an absolute file:// URL against `base_dir`, anywhere in `value`."""
    if isinstance(value, dict):
        return {k: resolve_files(v, base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_files(v, base_dir) for v in value]
    if isinstance(value, str) and value.startswith("file:") and not value.startswith("file://"):
        return "file://" + quote(os.path.abspath(os.path.join(base_dir, value.removeprefix("file:"))))
    return value
