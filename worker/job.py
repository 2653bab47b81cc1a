"""One variant, start to finish, synchronously: fetch, probe, narrate, plan, render, publish the file.

Runs in a thread; the asyncio side reads `progress` and sets `cancelled`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from reelmill import jobspec, tracing
from reelmill.v1 import render_pb2
from worker import cpus, fetch, output, speech
from worker.errors import (
    BadCommandError,
    MaterialTooLargeError,
    OutputTooLongError,
    RenderCancelledError,
    WorkerError,
)
from worker.narration import Narration
from worker.plan import MediaFacts, VariantPlan, plan_variant
from worker.render import render_variant, threads
from worker.render.fonts import FontBook, FontMetrics
from worker.render.frame_cache import FrameCache, LookupOnly, ShotCache
from worker.render.frame_spill import FrameSpill
from worker.render.poster import save_poster
from worker.render.probe import probe
from worker.render.quality import OutputMeter, report
from worker.render.threads import Threads
from worker.selection import media_urls, select
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

# narrate(text, voice, rate, language) -> Narration: the speech engine (worker.speech). `voice` is ""
# for the language's default voice, `rate` is SpeechConfig.SpeechRate (−500…500, 0 normal), `language`
# SpeechConfig.SpeechLanguage, as the job spec has them (reelmill/jobspec.py).
Narrate = Callable[[str, str, int, str], Narration]


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
    qc_json: str = ""  # the output's quality report (worker/render/quality.py), as JSON


def output_tag(cmd: render_pb2.RenderCommand) -> str:
    """Written into each output, so a redelivery recognises its own file (and not one that an
    earlier job left at the same MediaURL)."""
    return f"reelmill:{cmd.sub_job_id}"


def existing_output(cmd: render_pb2.RenderCommand, settings: WorkerSettings) -> Rendered | None:
    """The output of an earlier delivery of this sub-job that was written but not acknowledged."""
    out = output.for_command(cmd, settings)
    duration = out.existing(output_tag(cmd))
    return None if duration is None else Rendered(out.url, duration)


def checked(facts: MediaFacts, settings: WorkerSettings) -> MediaFacts:
    if facts.duration_s > settings.max_media_duration_s:
        seconds, limit = float(facts.duration_s), settings.max_media_duration_s
        raise MaterialTooLargeError(f"{facts.url}: {seconds:.0f} s long, more than the limit of {limit:g} s")
    return facts


_caches: dict[str, speech.SpeechCache] = {}
_caches_lock = threading.Lock()


def render_threads(settings: WorkerSettings) -> Threads:
    """The threads of one render: its slot's share of the cores the worker may use."""
    return threads.for_cores(cpus.cores_per_slot(settings.cpus or cpus.available_cpus(), settings.slots))


def speech_cache(settings: WorkerSettings) -> speech.SpeechCache:
    """One cache per folder and process, shared by the render slots (it is thread-safe)."""
    folder = os.path.join(settings.cache_dir, "speech")
    with _caches_lock:
        if folder not in _caches:
            _caches[folder] = speech.SpeechCache(folder, settings.speech_cache_bytes)
        return _caches[folder]


_frame_caches: dict[tuple[str, int], ShotCache] = {}


def frame_cache(settings: WorkerSettings) -> ShotCache:
    """One frame cache per process (and kind and size), shared by the render slots (it is thread-safe):
    in memory (FRAME_CACHE_MB), else on disk (FRAME_SPILL_MB), else none (a cache of size 0)."""
    if settings.frame_cache_mb or not settings.frame_spill_mb:
        kind, size = "memory", settings.frame_cache_bytes
    else:
        kind, size = os.path.join(settings.cache_dir, "frames"), settings.frame_spill_mb << 20
    with _caches_lock:
        if (kind, size) not in _frame_caches:
            if kind == "memory":
                made: ShotCache = FrameCache(size)
            else:
                try:
                    # Shared with the other workers that name the same folder, and kept after this
                    # process: the next one finds the shots still good (keyed by the files' identity).
                    made = FrameSpill(kind, size)
                except OSError as e:  # an unwritable cache folder costs the reuse, never the renders
                    log.warning("frames are not kept for the next variants: %s", e)
                    made = FrameCache(0)
            _frame_caches[(kind, size)] = made
        return _frame_caches[(kind, size)]


def synthesised_narration(settings: WorkerSettings, out_dir: str) -> Narrate:
    """Speech texts spoken by the offline engine (worker.speech); a text that is a file:// or http(s)://
    URL of a WAV is taken as a recorded voice-over instead (no subtitles)."""

    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        if urlsplit(text).scheme in ("file", "http", "https"):
            return speech.narration_from_wav(fetch.local_path(text, settings))
        return speech.narrate(text, voice=voice, rate=rate, language=language, cache=speech_cache(settings),
                              out_dir=out_dir)  # fmt: skip

    return narrate


def run_job(
    cmd: render_pb2.RenderCommand, settings: WorkerSettings, state: JobState, narrate: Narrate | None = None
) -> Rendered:
    sources: dict[str, str] = {}
    facts: dict[str, MediaFacts] = {}
    fonts = FontBook(settings.font_dirs, settings.default_font)
    with tempfile.TemporaryDirectory(prefix="narration-", dir=made(settings.cache_dir)) as speech_dir:
        speak = narrate or synthesised_narration(settings, speech_dir)
        plan = prepare(cmd, settings, speak, fonts, sources, facts)
        return _render(cmd, settings, state, plan, sources, fonts)


def prepare(
    cmd: render_pb2.RenderCommand,
    settings: WorkerSettings,
    speak: Narrate,
    fonts: FontBook,
    sources: dict[str, str],
    facts: dict[str, MediaFacts],
) -> VariantPlan:
    """The variant's plan: its media fetched and probed into `sources` and `facts` (what is there
    already is not fetched again: a dry run plans a whole batch with them), its texts spoken."""
    try:
        spec = jobspec.of_command(cmd)
    except jobspec.SpecError as e:
        raise BadCommandError(str(e)) from e
    sel = select(cmd, spec)
    visual = media_urls(cmd) + [u for u in (sel.background_image_url,) if u]
    if sel.sticker is not None:
        visual.append(sel.sticker.media_url)
    with tracing.span("reelmill.fetch", media=len(visual)):
        for url in dict.fromkeys(visual):
            if url not in facts:
                sources[url] = fetch.local_path(url, settings)
                facts[url] = checked(probe(sources[url], url, max_pixels=settings.max_media_pixels), settings)
        if sel.music_url and sel.music_url not in sources:
            sources[sel.music_url] = fetch.local_path(sel.music_url, settings)
    rate, language = spec.speech.rate, spec.speech.language
    with tracing.span("reelmill.speech", texts=len(sel.texts_to_speak())):
        narrations = {text: speak(text, sel.voice, rate, language) for text in sel.texts_to_speak()}
    with tracing.span("reelmill.plan"):
        plan = plan_variant(cmd, facts, narrations, FontMetrics(fonts))
    if plan.duration_s > settings.max_output_duration_s:
        # Narration sets a Script video's length, and texts can be long: the cost of one render is
        # bounded here, before a frame is made, rather than by the render's time limit.
        raise OutputTooLongError(
            f"the video would be {float(plan.duration_s):.1f} s long (its narration sets it), more than the "
            f"limit of {settings.max_output_duration_s:g} s: shorten the speech texts"
        )
    return plan


def made(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder


def _render(cmd: render_pb2.RenderCommand, settings: WorkerSettings, state: JobState, plan: VariantPlan,
            sources: dict[str, str], fonts: FontBook) -> Rendered:  # fmt: skip
    state.plan_json = plan.to_json()

    def on_progress(fraction: float) -> None:
        state.progress = fraction

    def is_cancelled() -> bool:
        return state.cancelled

    out = output.for_command(cmd, settings)
    temp = out.temp_path()
    poster = temp.with_suffix(".jpg")  # unique as the temp name is; moved beside the output with it
    try:
        with tracing.span("reelmill.encode", seconds=float(plan.duration_s),
                          size=f"{plan.output.width}x{plan.output.height}"):  # fmt: skip
            meter = OutputMeter(plan)  # the quality report and the poster, measured as it encodes
            # A batch of one takes shots kept before but keeps none: nothing of its batch can reuse them.
            shots = frame_cache(settings) if cmd.count > 1 else LookupOnly(frame_cache(settings))
            clashes = render_variant(plan, sources, str(temp), on_progress=on_progress,
                                     is_cancelled=is_cancelled, metadata={"comment": output_tag(cmd)},
                                     fonts=fonts, frame_cache=shots, meter=meter,
                                     threads=render_threads(settings))  # fmt: skip
        if state.cancelled:
            raise RenderCancelledError("cancelled")
        duration = float(probe(str(temp), str(temp)).duration_s)
        started = time.monotonic()
        with tracing.span("reelmill.quality"):
            qc = report(meter, str(temp), plan, clashes, sources)
        log.info("quality report of %s in %.2f s", cmd.sub_job_id, time.monotonic() - started)
        if meter.poster is None:  # a bug: every render has the poster's frame
            raise WorkerError("the render made no poster frame")
        save_poster(meter.poster, poster)
        with tracing.span("reelmill.upload", url=out.url):
            out.publish(temp, output_tag(cmd), duration, poster)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        with contextlib.suppress(FileNotFoundError):
            poster.unlink()
    url = out.url
    log.info("rendered %s (%.2f s, plan %.2f s)", url, duration, float(plan.duration_s))
    return Rendered(url, duration, state.plan_json, qc.to_json())
