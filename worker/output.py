"""Where a variant's output goes, behind one interface: a file under the output folder, or an S3 object
(worker/s3.py). `for_command` is the one place that looks at the URL's scheme.

The render writes a local temp file (`temp_path`); `publish` makes it visible at its final place in one
step, so no partial output is ever seen there; `existing` finds what an earlier delivery of the same
sub-job published but could not acknowledge (the tag written into each output says whose it is).
"""

from __future__ import annotations

import errno
import os
import re
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

from reelmill import roots
from reelmill.v1 import render_pb2
from worker import s3
from worker.errors import OutputExistsError, OutputRefusedError, OutputWriteError, WorkerError
from worker.render.poster import poster_path
from worker.render.probe import container_tags, probe
from worker.settings import WorkerSettings


class Output(Protocol):
    @property
    def url(self) -> str:
        """Where the output is once published, as Get reports it."""
        ...

    def temp_path(self) -> Path:
        """A fresh local file to render into (its folder made, stale ones of earlier attempts gone)."""
        ...

    def existing(self, tag: str) -> float | None:
        """The duration of the output already there if `tag` wrote it; None when there is none.
        OutputExistsError when another job's output is there: it is never overwritten."""
        ...

    def publish(self, temp: Path, tag: str, duration_s: float, poster: Path | None = None) -> None:
        """`temp`, complete, made the output in one step, unless another job's output got there
        first (OutputExistsError); then its `poster` beside it (x.mp4 → x.jpg). OutputWriteError."""
        ...


def for_command(cmd: render_pb2.RenderCommand, settings: WorkerSettings) -> Output:
    if s3.is_s3(cmd.output_url):
        # rendered beside the local outputs, then uploaded in one PUT
        staging = Path(settings.output_dir).resolve() / ".s3-staging" / cmd.batch_id / f"{cmd.index}.mp4"
        return S3Output(s3.location(cmd.output_url), staging, settings)
    return FileOutput(final_path(cmd.output_url, settings.output_dir, cmd.tenant, cmd.batch_id, cmd.index))


def final_path(output_url: str, output_dir: str, tenant: str, batch_id: str, index: int) -> Path:
    """The output file: the command's file:// URL, which must lie in the tenant's own folder, or
    <output_dir>/<tenant>/<batch>/<index>.mp4. The gateway checked the URL; this is the second lock."""
    root = roots.tenant_output(roots.real(output_dir), tenant)
    if not output_url:
        return Path(root) / batch_id / f"{index}.mp4"
    if urlsplit(output_url).scheme != "file":
        raise OutputWriteError(f"{output_url}: only file:// and s3:// outputs are supported by this worker")
    path = roots.real(roots.file_path(output_url))
    if not roots.is_under(path, [root]):
        raise OutputRefusedError(f"{output_url}: not under the tenant's output folder {root}")
    return Path(path)


def file_url(path: Path) -> str:
    return "file://" + quote(str(path))


def temp_beside(final: Path) -> Path:
    """A unique name beside the final file (same filesystem, so the move is atomic), in a folder that
    exists, without the temp files an earlier, killed attempt left there."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputWriteError(f"cannot create the output folder {final.parent}: {e}") from e
    # Exactly this output's temp names: `.x.*.partial.mp4` would also take `.x.y.<hex>.partial.mp4`, the
    # temp file of another render writing x.y.mp4.
    # Its poster's temp file has the same name with .jpg.
    own = re.compile(rf"\.{re.escape(final.stem)}\.[0-9a-f]{{8}}\.partial({re.escape(final.suffix)}|\.jpg)")
    for stale in final.parent.glob(f".{final.stem}.*.partial.*"):
        if own.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")


class FileOutput:
    def __init__(self, final: Path) -> None:
        self.final = final

    @property
    def url(self) -> str:
        return file_url(self.final)

    def temp_path(self) -> Path:
        return temp_beside(self.final)

    def existing(self, tag: str) -> float | None:
        if not os.path.lexists(self.final):
            return None
        try:
            if self.final.is_file() and container_tags(str(self.final), self.url).get("comment") == tag:
                return float(probe(str(self.final), self.url).duration_s)
        except WorkerError:
            pass  # unreadable: not an output of this sub-job (its outputs appear whole, by rename)
        raise OutputExistsError(f"{self.url} already holds another job's output; it is not overwritten")

    def publish(self, temp: Path, tag: str, duration_s: float, poster: Path | None = None) -> None:
        """Makes the rendered file durable, then visible under its final name in one step, never over
        another job's file: a hard link fails if the name exists (a rename would replace it). The
        poster follows the video (the name is the video's now), before the outcome is reported."""
        try:
            with open(temp, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(temp, self.final)
            except FileExistsError:
                self.existing(tag)  # ours (a redelivery raced us): replace it; another's: refused
                os.replace(temp, self.final)
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                # A filesystem without hard links: checked, then renamed (a race could still lose).
                self.existing(tag)
                os.replace(temp, self.final)
            else:
                temp.unlink()
            if poster is not None:
                os.replace(poster, poster_path(self.final))
            dir_fd = os.open(self.final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            raise OutputWriteError(f"cannot write {self.final}: {e}") from e


class S3Output:
    """An s3:// output: rendered into a local staging file, then uploaded in one conditional PUT."""

    def __init__(self, where: s3.S3Location, staging: Path, settings: WorkerSettings) -> None:
        self.where = where
        self.staging = staging
        self.settings = settings

    @property
    def url(self) -> str:
        return self.where.url

    def temp_path(self) -> Path:
        return temp_beside(self.staging)

    def existing(self, tag: str) -> float | None:
        return s3.S3Outputs(self.settings).existing(self.where, tag)

    def publish(self, temp: Path, tag: str, duration_s: float, poster: Path | None = None) -> None:
        outputs = s3.S3Outputs(self.settings)
        outputs.publish(str(temp), self.where, tag, duration_s)
        if poster is not None:
            outputs.put_poster(str(poster), self.where)
