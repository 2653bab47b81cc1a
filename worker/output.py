"""Where a variant's output goes, and writing it so that no partial file is ever visible there."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from worker.errors import OutputWriteError


def final_path(output_url: str, output_dir: str, batch_id: str, index: int) -> Path:
    """The output file: the command's file:// URL, or <output_dir>/<batch>/<index>.mp4."""
    root = Path(os.path.realpath(output_dir))
    if not output_url:
        return root / batch_id / f"{index}.mp4"
    parts = urlsplit(output_url)
    if parts.scheme != "file":
        raise OutputWriteError(f"{output_url}: only file:// outputs are supported by this worker")
    path = Path(os.path.realpath(unquote(parts.path)))
    if not path.is_relative_to(root):
        raise OutputWriteError(f"{output_url}: not under the output folder {root}")
    return path


def file_url(path: Path) -> str:
    return "file://" + quote(str(path))


def temp_path(final: Path) -> Path:
    """A unique name beside the final file (same filesystem, so the move is atomic)."""
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")


def remove_stale_partials(final: Path) -> None:
    """Temporary files an earlier, killed attempt left beside the final file."""
    for stale in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
        stale.unlink(missing_ok=True)


def publish_file(temp: Path, final: Path) -> None:
    """Makes the rendered file durable, then visible under its final name in one step."""
    try:
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise OutputWriteError(f"cannot write {final}: {e}") from e
