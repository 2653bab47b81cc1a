"""The media library of a tenant: add (once probed), get, the URLs of MediaIds a submit names, page,
delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from gateway.errors import MediaNotFoundError
from gateway.store.paging import newest_first
from gateway.store.schema import MediaRow
from gateway.store.transactions import Transactions, owned


class MediaLibrary:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    def add(self, row: MediaRow) -> MediaRow:
        self._tx.run(lambda s: s.add(row))
        return row

    def get(self, tenant: str, media_id: str) -> MediaRow:
        missing = MediaNotFoundError(f"media {media_id} not found")
        return self._tx.read(lambda s: owned(s, MediaRow, media_id, tenant, missing))

    def urls(self, tenant: str, ids: Sequence[str]) -> dict[str, str]:
        """The URLs of those of `ids` that are this tenant's media."""
        if not ids:
            return {}
        stmt = select(MediaRow.id, MediaRow.input_url).where(
            MediaRow.tenant == tenant, MediaRow.id.in_(list(ids))
        )
        return self._tx.read(lambda s: {r.id: r.input_url for r in s.execute(stmt)})

    def page(self, tenant: str, limit: int, page_token: str) -> tuple[list[MediaRow], str]:
        stmt = select(MediaRow).where(MediaRow.tenant == tenant)
        return self._tx.read(lambda s: newest_first(s, stmt, MediaRow.created_at, MediaRow.id, limit,
                                                    page_token, "media"))  # fmt: skip

    def delete(self, tenant: str, media_id: str) -> None:
        missing = MediaNotFoundError(f"media {media_id} not found")
        self._tx.run(lambda s: s.delete(owned(s, MediaRow, media_id, tenant, missing)))
