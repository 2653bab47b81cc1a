"""signature_nonces: ICE request nonces seen within the date window, against replays

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_nonces",
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", "nonce"),
    )
    with op.batch_alter_table("signature_nonces", schema=None) as batch_op:
        batch_op.create_index("ix_signature_nonces_seen", ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signature_nonces", schema=None) as batch_op:
        batch_op.drop_index("ix_signature_nonces_seen")
    op.drop_table("signature_nonces")
