"""One variant, start to finish, synchronously: fetch, probe, narrate, plan, render, publish the file.

Runs in a thread; the asyncio side reads `progress` and sets `cancelled`.
"""

from __future__ import annotations

import contextlib
import logging
import wave
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

from reelmill.v1 import render_pb2
from worker import fetch, output, s3
from worker.errors import MaterialUnreadableError, RenderCancelledError, SpeechUnavailableError, WorkerError
from worker.narration import Narration
from worker.plan import MediaFacts, plan_variant
from worker.render import render_variant
from worker.render.fonts import FontBook
from worker.render.probe import container_tags, probe
from worker.selection import media_urls, select
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

# narrate(text, voice, rate, language) -> Narration: the speech engine (worker.speech). `voice` is ""
# for the language's default voice, `rate` is SpeechConfig.SpeechRate (−500…500, 0 normal), `language`
# SpeechConfig.SpeechLanguage (default zh).
Narrate = Callable[[str, str, int, str], Narration]
DEFAULT_SPEECH_LANGUAGE = "zh"


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
    if s3.is_s3(cmd.output_url):
        where = s3.location(cmd.output_url)
        duration = s3.S3Outputs(settings).existing(where, output_tag(cmd))
        return None if duration is None else Rendered(where.url, duration)
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


def recorded_narration(settings: WorkerSettings) -> Narrate:
    """Until speech synthesis lands (worker.speech): a speech text that is a file:// URL of a WAV under
    the media roots is taken as pre-recorded narration (no subtitles); any other text fails clearly."""

    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        if urlsplit(text).scheme != "file":
            raise SpeechUnavailableError(
                "speech synthesis not available in this worker: give SpeechTextArray items as file:// URLs "
                "of WAV recordings under the media roots"
            )
        path = fetch.local_path(text, settings.media_roots)
        try:
            with wave.open(path, "rb") as wav:
                duration = Fraction(wav.getnframes(), wav.getframerate())
        except (wave.Error, EOFError) as e:
            raise MaterialUnreadableError(f"{text}: not a readable WAV file ({e})") from e
        return Narration(audio_path=path, duration_s=duration, cues=(), text="", voice="")

    return narrate


def run_job(
    cmd: render_pb2.RenderCommand, settings: WorkerSettings, state: JobState, narrate: Narrate | None = None
) -> Rendered:
    sel = select(cmd)
    sources: dict[str, str] = {}
    facts: dict[str, MediaFacts] = {}
    visual = media_urls(cmd) + [u for u in (sel.background_image_url,) if u]
    if sel.sticker is not None:
        visual.append(sel.sticker.media_url)
    for url in dict.fromkeys(visual):
        sources[url] = fetch.local_path(url, settings.media_roots)
        facts[url] = probe(sources[url], url)
    if sel.music_url:
        sources[sel.music_url] = fetch.local_path(sel.music_url, settings.media_roots)

    sc = cmd.editing_config.speech_config
    speak = narrate or recorded_narration(settings)
    rate = sc.speech_rate
    language = sc.speech_language or DEFAULT_SPEECH_LANGUAGE
    narrations = {text: speak(text, sel.voice, rate, language) for text in sel.texts_to_speak()}

    plan = plan_variant(cmd, facts, narrations)
    state.plan_json = plan.to_json()

    def on_progress(fraction: float) -> None:
        state.progress = fraction

    def is_cancelled() -> bool:
        return state.cancelled

    to_s3 = s3.is_s3(cmd.output_url)
    if to_s3:  # rendered beside the local outputs, then uploaded in one PUT
        where = s3.location(cmd.output_url)
        final = Path(settings.output_dir).resolve() / ".s3-staging" / cmd.batch_id / f"{cmd.index}.mp4"
    else:
        final = output.final_path(cmd.output_url, settings.output_dir, cmd.batch_id, cmd.index)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = output.temp_path(final)
    fonts = FontBook(settings.font_dirs, settings.default_font)
    try:
        render_variant(plan, sources, str(temp), on_progress=on_progress, is_cancelled=is_cancelled,
                       metadata={"comment": output_tag(cmd)}, fonts=fonts)  # fmt: skip
        if state.cancelled:
            raise RenderCancelledError("cancelled")
        duration = float(probe(str(temp), str(temp)).duration_s)
        if to_s3:
            s3.S3Outputs(settings).publish(str(temp), where, output_tag(cmd), duration)
            url = where.url
        else:
            output.publish_file(temp, final)
            url = output.file_url(final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    log.info("rendered %s (%.2f s, plan %.2f s)", url, duration, float(plan.duration_s))
    return Rendered(url, duration, state.plan_json)
