"""document numbers: devices' numbers and gapless counters

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counter = op.create_table(
        "document_counter",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "year"),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_device_number", ["number"])
    # The devices already known are numbered in the order they first signed in.
    bind = op.get_bind()
    device = sa.table("device", sa.column("id", sa.String), sa.column("created_at"), sa.column("number", sa.Integer))
    ids = bind.execute(sa.select(device.c.id).order_by(device.c.created_at, device.c.id)).scalars().all()
    for number, device_id in enumerate(ids, start=1):
        bind.execute(sa.update(device).where(device.c.id == device_id).values(number=number))
    op.bulk_insert(counter, [{"kind": "device", "year": 0, "last": len(ids)}])


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_constraint("uq_device_number", type_="unique")
        batch_op.drop_column("number")
    op.drop_table("document_counter")
