"""UserData: the client's own JSON object, stored as given and returned with its job. reelmill reads one
key of it, NotifyAddress (the completion callback, spec §8); this module is where it is read."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BYTES = 512
# An Alibaba Cloud MNS queue name (ICE sends callbacks there when NotifyAddress is not a URL).
MNS_QUEUE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,255}$")


class UserDataError(ValueError):
    """Why a UserData is not what ICE allows (the message names the problem)."""


def parse(user_data: str) -> dict[str, Any]:
    """The object ({} for an empty UserData)."""
    if not user_data:
        return {}
    if len(user_data.encode()) > MAX_BYTES:
        raise UserDataError(f"at most {MAX_BYTES} bytes")
    try:
        doc = json.loads(user_data)
    except json.JSONDecodeError as e:
        raise UserDataError(f"must be a JSON object: {e.msg}") from e
    if not isinstance(doc, dict):
        raise UserDataError("must be a JSON object")
    return doc


def notify_address(user_data: str) -> str:
    """NotifyAddress as a webhook URL, or "" when there is none (nor a valid UserData to hold one, nor
    a URL: an MNS queue name is ICE's, see notify_queue)."""
    value = _notify(user_data)
    return value if value.startswith(("http://", "https://")) else ""


def notify_queue(user_data: str) -> str:
    """NotifyAddress when it names an MNS queue (ICE's other kind of callback), else ""."""
    value = _notify(user_data)
    return value if MNS_QUEUE.match(value) else ""


def _notify(user_data: str) -> str:
    try:
        value = parse(user_data).get("NotifyAddress")
    except UserDataError:
        return ""
    return value if isinstance(value, str) else ""
