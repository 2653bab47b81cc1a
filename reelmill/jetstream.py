"""JetStream calls that the gateway and the workers make the same way."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

CONSUMERS_PAGE = 256  # what the server returns at most per consumers_info call


async def all_consumers(js: JetStreamContext, stream: str) -> list[ConsumerInfo]:
    """Every consumer of `stream` (one per tenant and priority on the render queue: there can be more
    than one page of them). Raises what nats-py raises; each side maps it to its own error."""
    found: list[ConsumerInfo] = []
    while True:
        page = await js.consumers_info(stream, offset=len(found))
        found += page
        if len(page) < CONSUMERS_PAGE:
            return found
