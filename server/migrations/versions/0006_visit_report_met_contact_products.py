"""visit report: the contact met and the products presented

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("met_contact_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("products_presented", sa.JSON(), nullable=True))
        batch_op.create_foreign_key("fk_visit_met_contact_id_contact", "contact", ["met_contact_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_constraint("fk_visit_met_contact_id_contact", type_="foreignkey")
        batch_op.drop_column("products_presented")
        batch_op.drop_column("met_contact_id")
