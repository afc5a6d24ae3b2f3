"""change-log entries numbered by the database as their transaction commits (PostgreSQL)

A server process used to take the change-log lock itself, then insert its entries (numbered as
they went in) and commit: the lock was held across three to five round trips to the process and
back, each waiting for its interpreter, and every push of every process queued behind it. Now
the entries go in unlocked, with provisional numbers, and a deferred trigger renumbers them at
COMMIT, under the same transaction-level lock, held from there to the end of the commit only:
numbers still follow commit order, so a late commit can never be skipped by a pulling device.

Under the lock, the trigger also reads the owner of each entry that came without one (a record
under an account): read there, it is the owner at commit, even if a reassignment committed
meanwhile. SQLite's single writer needs none of this.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: server.db.CHANGE_LOG_LOCK, as it was when this revision was written.
_LOCK = 0x7465727261696E


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION terrain_number_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({_LOCK});
            UPDATE change_log
               SET seq = nextval('change_log_seq_seq'),
                   owner_id = CASE
                       WHEN NEW.owner_id IS NULL AND NEW.account_id IS NOT NULL
                       THEN (SELECT account.owner_id FROM account WHERE account.id = NEW.account_id)
                       ELSE NEW.owner_id
                   END
             WHERE seq = NEW.seq;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS change_log_numbered_at_commit ON change_log")
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER change_log_numbered_at_commit
        AFTER INSERT ON change_log
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION terrain_number_change()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS change_log_numbered_at_commit ON change_log")
    op.execute("DROP FUNCTION IF EXISTS terrain_number_change()")
