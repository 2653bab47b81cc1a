"""Yes/no settings, read strictly (one rule for the server commands and the clients)."""

from __future__ import annotations

BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def boolean(value: str, env: str) -> bool:
    """A yes/no setting, read strictly: REELMILL_OPEN=false must not open the gateway. Anything but
    true/false/1/0/yes/no (any case; empty is no) stops the command with the setting's name."""
    parsed = BOOLEANS.get(value.strip().lower())
    if parsed is None:
        raise SystemExit(f"error: REELMILL_{env}={value!r}: must be one of true, false, 1, 0, yes, no")
    return parsed
