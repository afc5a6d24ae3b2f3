"""change-log entries under no account, by number

A delta pull reads the entries of its owners' accounts (`ix_change_log_owner_seq`) and those
under no account (this index): two index ranges, instead of every entry since the device's
cursor, whosever it is (a sales force's worth between two syncs of one device).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNOWNED = sa.text("account_id IS NULL")


def upgrade() -> None:
    # Concurrently, outside the revision's transaction: the change log is written by every push.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_change_log_unowned_seq",
            "change_log",
            ["seq"],
            postgresql_where=_UNOWNED,
            sqlite_where=_UNOWNED,
            postgresql_concurrently=True,
            if_not_exists=True,  # left by an attempt that failed before its revision was stamped
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_change_log_unowned_seq", "change_log", postgresql_concurrently=True, if_exists=True)
