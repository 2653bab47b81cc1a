"""Batch-editing templates of a tenant: add, get, the named ones of a submit, page, delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import TemplateNotFoundError
from gateway.store.paging import newest_first
from gateway.store.schema import TemplateRow
from gateway.store.transactions import Transactions, owned, utcnow


class Templates:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    def add(self, tenant: str, template_id: str, name: str, config: str) -> TemplateRow:
        row = TemplateRow(id=template_id, tenant=tenant, name=name, config=config, created_at=utcnow())
        self._tx.run(lambda s: s.add(row))
        return row

    def get(self, tenant: str, template_id: str) -> TemplateRow:
        missing = TemplateNotFoundError(f"template {template_id} not found")
        return self._tx.read(lambda s: owned(s, TemplateRow, template_id, tenant, missing))

    def named(self, tenant: str, ids: Sequence[str]) -> list[TemplateRow]:
        """The named templates of a tenant, in the order asked; TemplateNotFoundError names the first
        missing."""

        def read(s: Session) -> list[TemplateRow]:
            stmt = select(TemplateRow).where(TemplateRow.tenant == tenant, TemplateRow.id.in_(list(ids)))
            rows = {r.id: r for r in s.scalars(stmt)}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise TemplateNotFoundError(f"template {missing[0]} not found")
            return [rows[i] for i in ids]

        return self._tx.read(read)

    def page(self, tenant: str, limit: int, page_token: str) -> tuple[list[TemplateRow], str]:
        stmt = select(TemplateRow).where(TemplateRow.tenant == tenant)
        return self._tx.read(lambda s: newest_first(s, stmt, TemplateRow.created_at, TemplateRow.id, limit,
                                                    page_token, "templates"))  # fmt: skip

    def count(self, tenant: str) -> int:
        stmt = select(func.count()).select_from(TemplateRow).where(TemplateRow.tenant == tenant)
        return int(self._tx.read(lambda s: s.scalar(stmt)) or 0)

    def delete(self, tenant: str, template_id: str) -> None:
        missing = TemplateNotFoundError(f"template {template_id} not found")
        self._tx.run(lambda s: s.delete(owned(s, TemplateRow, template_id, tenant, missing)))
