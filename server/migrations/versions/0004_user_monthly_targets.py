"""user monthly targets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monthly_revenue_target_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("monthly_order_target", sa.Integer(), nullable=True))
        # Existing users get the currency every target so far was in.
        batch_op.add_column(
            sa.Column("target_currency", sa.String(length=3), nullable=False, server_default="EUR")
        )


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("target_currency")
        batch_op.drop_column("monthly_order_target")
        batch_op.drop_column("monthly_revenue_target_amount")
