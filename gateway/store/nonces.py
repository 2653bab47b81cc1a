"""ICE signature nonces: each taken once while its request's date is within the window."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import SignatureError
from gateway.store.schema import NonceRow
from gateway.store.transactions import Transactions


class Nonces:
    def __init__(self, tx: Transactions, keep: timedelta) -> None:
        self._tx = tx
        # A date may be MAX_SKEW ahead of the clock and is accepted until MAX_SKEW behind it: keep twice that.
        self.keep = keep

    def take(self, access_key_id: str, nonce: str, now: datetime) -> None:
        """Records the nonce; SignatureError (SignatureNonceUsed) if it was taken within the window."""

        def write(s: Session) -> None:
            s.execute(delete(NonceRow).where(NonceRow.seen_at < now - self.keep))
            s.add(NonceRow(access_key_id=access_key_id, nonce=nonce, seen_at=now))

        try:
            self._tx.run(write)
        except IntegrityError as e:
            raise SignatureError("SignatureNonceUsed", "the x-acs-signature-nonce was used before") from e
