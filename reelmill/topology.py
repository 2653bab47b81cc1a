"""Names on the bus shared by gateway and workers: streams, subjects, consumers, buckets.

Plain data only; each side's bus module turns it into NATS calls.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMAND_STREAM = "RENDER_CMDS"
COMMAND_SUBJECTS = ("render.cmd.>",)

# Fair sharing (docs/operations.md, "Fair sharing between tenants"): a render command's subject names
# its tenant and its job's priority, render.cmd.<tenant>.p<priority>.<sub-job>, and each (tenant,
# priority) has its own durable consumer on the work-queue stream, declared by the gateway before it
# publishes there. Workers take commands tenant by tenant in turn, and within a tenant the highest
# priority first; a consumer's max_ack_pending is its tenant's limit on concurrent renders, which
# JetStream itself enforces.
PRIORITIES = range(1, 6)  # 1 lowest, 5 highest
DEFAULT_PRIORITY = 3
TENANT_CONSUMER_PREFIX = "render-t-"
# Before fair sharing, one consumer took every command; its subjects were render.cmd.<tenant>.<sub-job>.
# The gateway deletes it (a work queue allows no overlapping consumers) and drains what is left of
# those subjects through LEGACY_CONSUMER, whose filter has one token fewer than the new subjects.
OLD_WORKER_CONSUMER = "render-workers"
LEGACY_CONSUMER = "render-legacy"
LEGACY_FILTER = "render.cmd.*.*"
# A core NATS subject the gateway rings after publishing commands, so that idle workers look at once
# (they also look every second: a redelivery rings no bell).
DOORBELL_SUBJECT = "render.ready"

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


def command_subject(tenant: str, sub_job_id: str, priority: int = DEFAULT_PRIORITY) -> str:
    return f"render.cmd.{tenant}.p{priority}.{sub_job_id}"


@dataclass(frozen=True)
class Queue:
    """Where a tenant's commands of one priority wait: their subjects and their consumer."""

    tenant: str
    priority: int

    @property
    def consumer(self) -> str:
        return f"{TENANT_CONSUMER_PREFIX}{self.tenant}-p{self.priority}"

    @property
    def filter(self) -> str:
        return f"render.cmd.{self.tenant}.p{self.priority}.>"


def queue_of_subject(subject: str) -> Queue | None:
    """The queue a command subject belongs to; None for a subject of the old form (the legacy queue)."""
    parts = subject.split(".")
    if len(parts) == 5 and parts[3][:1] == "p" and parts[3][1:].isdigit():
        return Queue(parts[2], int(parts[3][1:]))
    return None


def queue_of_consumer(name: str) -> Queue | None:
    """The queue a consumer serves; None for the legacy consumer or one that is not a tenant's."""
    if not name.startswith(TENANT_CONSUMER_PREFIX):
        return None
    tenant, _, level = name[len(TENANT_CONSUMER_PREFIX) :].rpartition("-p")
    return Queue(tenant, int(level)) if tenant and level.isdigit() else None


def event_subject(batch_id: str, sub_job_id: str) -> str:
    return f"render.evt.{batch_id}.{sub_job_id}"


@dataclass(frozen=True)
class WorkerConsumerPolicy:
    """Consumer settings for the render command queue; the gateway and workers declare the same."""

    ack_wait_s: float = 60.0
    max_deliver: int = 5
