"""quality reports: each sub-job's measured output (duration, loudness, black and frozen runs, digest)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A default on the server: rows of earlier versions (and bulk loads that do not name it) read "".
    with op.batch_alter_table("sub_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("qc", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sub_jobs", schema=None) as batch_op:
        batch_op.drop_column("qc")
