"""reelmill/jetstream.py against a real nats-server: every consumer of a stream, past the server's page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.js.api import ConsumerConfig, StreamConfig

from cli.natsd import NatsServer
from reelmill.jetstream import CONSUMERS_PAGE, all_consumers


def test_every_consumer_of_a_stream_is_listed_past_one_page(tmp_path: Path) -> None:
    """A tenant and priority each have a consumer on the render queue: past 256 of them, the gateway's
    queue depths and the workers' turn order must still see them all."""
    server = NatsServer(tmp_path / "nats").start()

    async def check() -> None:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="S", subjects=["s.>"]))
            count = CONSUMERS_PAGE + 44
            for i in range(count):
                await js.add_consumer("S", ConsumerConfig(durable_name=f"c{i:03d}", filter_subject=f"s.{i}"))
            found = await all_consumers(js, "S")
            assert sorted(c.name for c in found) == [f"c{i:03d}" for i in range(count)]
            await js.add_stream(StreamConfig(name="EMPTY", subjects=["e.>"]))
            assert await all_consumers(js, "EMPTY") == []
        finally:
            await nc.close()

    try:
        asyncio.run(check())
    finally:
        server.stop()
