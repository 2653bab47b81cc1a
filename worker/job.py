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
from urllib.parse import urlsplit

from reelmill.v1 import render_pb2
from worker import fetch, output
from worker.errors import MaterialUnreadableError, RenderCancelledError, SpeechUnavailableError, WorkerError
from worker.narration import Narration
from worker.plan import MediaFacts, plan_variant, speech_speed
from worker.render import render_variant
from worker.render.probe import container_tags, probe
from worker.selection import media_urls, select
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

# narrate(text, voice, rate, language) -> Narration: the speech engine. `voice` is "" for its default,
# `rate` the speed factor (1 normal; see plan.speech_speed), `language` e.g. "zh".
Narrate = Callable[[str, str, float, str], Narration]
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

    def narrate(text: str, voice: str, rate: float, language: str) -> Narration:
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
    final = output.final_path(cmd.output_url, settings.output_dir, cmd.batch_id, cmd.index)
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
    rate = speech_speed(sc.speech_rate)
    language = sc.speech_language or DEFAULT_SPEECH_LANGUAGE
    narrations = {text: speak(text, sel.voice, rate, language) for text in sel.texts_to_speak()}

    plan = plan_variant(cmd, facts, narrations)
    state.plan_json = plan.to_json()

    def on_progress(fraction: float) -> None:
        state.progress = fraction

    def is_cancelled() -> bool:
        return state.cancelled

    final.parent.mkdir(parents=True, exist_ok=True)
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
