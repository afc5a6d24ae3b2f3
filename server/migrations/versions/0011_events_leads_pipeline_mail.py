"""events, lead capture, opportunity stage history, e-mails, duplicate keys and merges

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=36), nullable=True))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin_campaign_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("origin_campaign_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("temperature", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("product_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("next_step", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("email_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
    op.create_table(
        "opportunity_stage_change",
        *_record_columns(),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("opportunity_id", sa.String(length=36), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunity.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_opportunity_stage_change_account_id_id", "opportunity_stage_change", ["account_id", "id"], unique=False
    )
    op.create_index(
        "ix_opportunity_stage_change_opportunity_id", "opportunity_stage_change", ["opportunity_id"], unique=False
    )
    op.create_table(
        "email_message",
        *_record_columns(),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=True),
        sa.Column("campaign_id", sa.String(length=36), nullable=True),
        sa.Column("author_id", sa.String(length=36), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_email_message_account_id_id", "email_message", ["account_id", "id"], unique=False)
    op.create_index("ix_email_message_queued_at", "email_message", ["queued_at"], unique=False)
    op.create_table(
        "account_key",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "kind", "key"),
    )
    op.create_index("ix_account_key_kind_key", "account_key", ["kind", "key"], unique=False)
    op.create_table(
        "merge_proposal",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("duplicate_id", sa.String(length=36), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "duplicate_id"),
    )
    op.create_index("ix_merge_proposal_account_id", "merge_proposal", ["account_id"], unique=False)
    op.create_index("ix_merge_proposal_duplicate_id", "merge_proposal", ["duplicate_id"], unique=False)
    op.create_index("ix_merge_proposal_status", "merge_proposal", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("merge_proposal")
    op.drop_table("account_key")
    op.drop_table("email_message")
    op.drop_table("opportunity_stage_change")
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        for name in ("email_id", "next_step", "product_ids", "temperature", "campaign_id"):
            batch_op.drop_column(name)
    with op.batch_alter_table("contact", schema=None) as batch_op:
        for name in ("origin_campaign_id", "origin", "language"):
            batch_op.drop_column(name)
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("origin_campaign_id")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("created_by")
        batch_op.drop_column("place")
