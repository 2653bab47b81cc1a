"""One variant, start to finish, synchronously: fetch, probe, plan, render, publish the file.

Runs in a thread; the asyncio side reads `progress` and sets `cancelled`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from fractions import Fraction

from reelmill.v1 import render_pb2
from worker import fetch, output
from worker.errors import MaterialTooLargeError, OutputWriteError, RenderCancelledError, WorkerError
from worker.plan import MediaFacts, chosen_media, plan_variant
from worker.render import render_variant
from worker.render.probe import container_tags, probe
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


@dataclass
class JobState:
    """Shared between the render thread and the event loop (plain attribute writes are atomic)."""

    progress: float = 0.0
    plan_json: str = ""
    cancelled: bool = False


@dataclass(frozen=True)
class Rendered:
    media_url: str
    duration_s: float
    plan_json: str = ""  # unknown when an earlier delivery wrote the output


def output_tag(cmd: render_pb2.RenderCommand) -> str:
    """Written into each output, so a redelivery recognises its own file (and not one that an
    earlier job left at the same MediaURL)."""
    return f"reelmill:{cmd.sub_job_id}"


def existing_output(cmd: render_pb2.RenderCommand, settings: WorkerSettings) -> Rendered | None:
    """The output of an earlier delivery of this sub-job that was written but not acknowledged."""
    final = output.final_path(cmd.output_url, settings.output_dir, cmd.batch_id, cmd.index)
    if not final.is_file():
        return None
    url = output.file_url(final)
    try:
        if container_tags(str(final), url).get("comment") != output_tag(cmd):
            return None  # someone else's file: this render replaces it
        facts = probe(str(final), url)
    except WorkerError:
        return None
    return Rendered(url, float(facts.duration_s))


def checked(facts: MediaFacts, settings: WorkerSettings) -> MediaFacts:
    if facts.duration_s > settings.max_media_duration_s:
        seconds, limit = float(facts.duration_s), settings.max_media_duration_s
        raise MaterialTooLargeError(f"{facts.url}: {seconds:.0f} s long, more than the limit of {limit:g} s")
    return facts


def run_job(cmd: render_pb2.RenderCommand, settings: WorkerSettings, state: JobState) -> Rendered:
    final = output.final_path(cmd.output_url, settings.output_dir, cmd.batch_id, cmd.index)
    facts: dict[str, MediaFacts] = {}
    sources: dict[str, str] = {}
    for url in dict.fromkeys(chosen_media(cmd)):
        path = fetch.local_path(url, settings)
        sources[url] = path
        facts[url] = checked(probe(path, url, max_pixels=settings.max_media_pixels), settings)
    plan = plan_variant(cmd, facts)
    state.plan_json = plan.to_json()

    def on_progress(fraction: float) -> None:
        state.progress = fraction

    def is_cancelled() -> bool:
        return state.cancelled

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputWriteError(f"cannot create the output folder {final.parent}: {e}") from e
    output.remove_stale_partials(final)
    temp = output.temp_path(final)
    try:
        render_variant(plan, sources, str(temp), on_progress=on_progress, is_cancelled=is_cancelled,
                       metadata={"comment": output_tag(cmd)})  # fmt: skip
        if state.cancelled:
            raise RenderCancelledError("cancelled")
        output.publish_file(temp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    duration = probe(str(final), output.file_url(final)).duration_s
    log.info("rendered %s (%.2f s, plan %.2f s)", final, float(duration), float(plan.duration_s))
    return Rendered(output.file_url(final), float(Fraction(duration)), state.plan_json)
