"""A dry run: the plans of a whole batch, made as a render would make them (media fetched and
probed, texts spoken, fonts measured), with an estimate of each render's time; nothing is rendered.
The gateway asks (NATS request–reply, see worker/bus.py); any worker answers."""

from __future__ import annotations

import tempfile

from reelmill.v1 import render_pb2
from worker.errors import WorkerError
from worker.job import Narrate, made, prepare, synthesised_narration
from worker.narration import Narration
from worker.plan import MediaFacts
from worker.plan.estimate import render_seconds
from worker.render.fonts import FontBook
from worker.settings import WorkerSettings


def plan_batch(data: bytes, settings: WorkerSettings) -> bytes:
    request = render_pb2.PlanRequest.FromString(data)
    reply = render_pb2.PlanReply()
    sources: dict[str, str] = {}
    facts: dict[str, MediaFacts] = {}  # each media probed once for the whole batch
    fonts = FontBook(settings.font_dirs, settings.default_font)
    try:
        with tempfile.TemporaryDirectory(prefix="dry-run-", dir=made(settings.cache_dir)) as speech_dir:
            speak = _once_each(synthesised_narration(settings, speech_dir))
            for index, which in enumerate(request.config_set_of):
                cmd = render_pb2.RenderCommand()
                cmd.CopyFrom(request.config_sets[which])
                cmd.index = index
                plan = prepare(cmd, settings, speak, fonts, sources, facts)
                reply.plan_json.append(plan.to_json())
                reply.render_seconds.append(render_seconds(plan))
    except WorkerError as e:
        reply = render_pb2.PlanReply(error_code=e.code, error_message=str(e))
    except IndexError:
        reply = render_pb2.PlanReply(error_code="Internal", error_message="a variant names no config set")
    return reply.SerializeToString()


def _once_each(speak: Narrate) -> Narrate:
    """Each (text, voice, rate, language) spoken once for the whole batch: variants share them."""
    spoken: dict[tuple[str, str, int, str], Narration] = {}

    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        key = (text, voice, rate, language)
        if key not in spoken:
            spoken[key] = speak(*key)
        return spoken[key]

    return narrate
