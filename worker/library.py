"""Probing a media for the gateway's media library: the gateway asks (NATS request–reply, see
worker/bus.py), a worker fetches the media as a render would, probes it and answers what it found or
the ErrorCode a render would have failed with."""

from __future__ import annotations

from reelmill.v1 import render_pb2
from worker import fetch
from worker.errors import WorkerError
from worker.job import checked
from worker.render.probe import has_pictures, probe, sound_length
from worker.settings import WorkerSettings


def probe_for_library(data: bytes, settings: WorkerSettings) -> bytes:
    request = render_pb2.MediaProbeRequest.FromString(data)
    try:
        path = fetch.local_path(request.url, settings)
        if has_pictures(path, request.url):
            facts = checked(probe(path, request.url, max_pixels=settings.max_media_pixels), settings)
            reply = render_pb2.MediaProbeReply(
                is_image=facts.is_image, width=facts.width, height=facts.height,
                duration_s=float(facts.duration_s), has_audio=facts.has_audio, has_video=True,
            )  # fmt: skip
        else:
            reply = render_pb2.MediaProbeReply(
                duration_s=float(sound_length(path, request.url)), has_audio=True
            )
    except WorkerError as e:
        reply = render_pb2.MediaProbeReply(error_code=e.code, error_message=str(e))
    return reply.SerializeToString()
