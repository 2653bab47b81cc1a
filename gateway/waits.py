"""Waiting on several things at once: a loop's work, its wake-up and the shutdown signal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def first_done(*aws: Awaitable[Any]) -> None:
    """Waits until the first of the awaitables finishes and cancels the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
