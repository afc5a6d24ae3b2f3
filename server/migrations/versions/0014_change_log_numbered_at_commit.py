"""change-log entries numbered by the database as their transaction commits (PostgreSQL)

A server process used to take the change-log lock itself, then insert its entries (numbered as
they went in) and commit: the lock was held across three to five round trips to the process and
back, each waiting for its interpreter, and every push of every process queued behind it.

Now a transaction's entries wait in `change_log_pending`, and a deferred trigger moves them into
`change_log` at COMMIT, under the same transaction-level lock, held from there to the end of the
commit only: numbers still follow commit order, so a late commit can never be skipped by a
pulling device. The first of the transaction's rows to fire moves them all, in the order they
were written, in one statement; the others find theirs gone. The pending table is UNLOGGED (no
WAL): a row never outlives its own transaction's commit, and a crash takes the transaction
along. Under the lock, the move also reads the owner of each entry that came without one (a
record under an account, `owner_known` false): read there, it is the owner at commit, even if a reassignment
committed meanwhile. SQLite's single writer needs none of this.

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
        """
        CREATE UNLOGGED TABLE IF NOT EXISTS change_log_pending (
            ord BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            entity VARCHAR(40) NOT NULL,
            row_id VARCHAR(36) NOT NULL,
            op VARCHAR(10) NOT NULL,
            account_id VARCHAR(36),
            owner_id VARCHAR(36),
            owner_known BOOLEAN NOT NULL,
            changed_at TIMESTAMP WITH TIME ZONE NOT NULL
        )
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION terrain_log_pending_changes() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM change_log_pending WHERE ord = NEW.ord) THEN
                RETURN NULL;  -- moved already, with the transaction's first row
            END IF;
            PERFORM pg_advisory_xact_lock({_LOCK});
            -- Every pending row this transaction sees is its own (the others' are uncommitted).
            WITH moved AS (DELETE FROM change_log_pending RETURNING *)
            INSERT INTO change_log (entity, row_id, op, account_id, owner_id, changed_at)
            SELECT moved.entity, moved.row_id, moved.op, moved.account_id,
                   CASE WHEN moved.owner_known THEN moved.owner_id ELSE account.owner_id END,
                   moved.changed_at
              FROM moved LEFT JOIN account ON account.id = moved.account_id
             ORDER BY moved.ord;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS change_log_pending_at_commit ON change_log_pending")
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER change_log_pending_at_commit
        AFTER INSERT ON change_log_pending
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION terrain_log_pending_changes()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS change_log_pending")  # its trigger with it
    op.execute("DROP FUNCTION IF EXISTS terrain_log_pending_changes()")
