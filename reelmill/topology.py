"""Names on the bus shared by gateway and workers: streams, subjects, consumers, buckets.

Plain data only; each side's bus module turns it into NATS calls.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMAND_STREAM = "RENDER_CMDS"
COMMAND_SUBJECTS = ("render.cmd.>",)
WORKER_CONSUMER = "render-workers"

EVENT_STREAM = "RENDER_EVENTS"
EVENT_SUBJECTS = ("render.evt.>",)
GATEWAY_CONSUMER = "gateway-events"

# Key: batch id; present when the batch was cancelled. Workers check it before and while rendering.
CANCEL_BUCKET = "reelmill_cancelled"

# Commands are deduplicated by Nats-Msg-Id within this window (longer than the relay's retry gap).
DUPLICATE_WINDOW_S = 600.0

# The command stream takes messages up to 1 MiB (gateway/bus.py); a command is kept well under it,
# and a batch's commands together under what the outbox should hold for one Submit.
STREAM_MAX_MESSAGE_BYTES = 1 << 20
MAX_COMMAND_BYTES = 512 << 10
MAX_BATCH_COMMAND_BYTES = 32 << 20


# The media library asks a worker to probe a media (core NATS request–reply, one worker of the group).
MEDIA_PROBE_SUBJECT = "media.probe"
MEDIA_PROBE_GROUP = "media-probers"

# A dry run asks a worker for a batch's plans (core NATS request–reply, one worker of the group).
PLAN_SUBJECT = "plan.request"
PLAN_GROUP = "planners"


def command_subject(tenant: str, sub_job_id: str) -> str:
    return f"render.cmd.{tenant}.{sub_job_id}"


def event_subject(batch_id: str, sub_job_id: str) -> str:
    return f"render.evt.{batch_id}.{sub_job_id}"


@dataclass(frozen=True)
class WorkerConsumerPolicy:
    """Consumer settings for the render command queue; the gateway and workers declare the same."""

    ack_wait_s: float = 60.0
    max_deliver: int = 5
