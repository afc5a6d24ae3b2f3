"""Moving an account to another rep: the old rep's devices purge it, the new rep's get it whole."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from app.models import ENTITIES, Account, entity_table
from server.db import PendingChange, lock_change_log, record_changes

__all__ = ["reassign_account"]


def reassign_account(*, session: Session, account: Account, owner_id: str) -> None:
    old_owner = account.owner_id
    if old_owner == owner_id:
        return
    # The account's row first, then the change-log lock: the order a push takes them in (its
    # rows as it applies, the lock at its commit). The other order would deadlock with a push
    # changing this account. (FOR NO KEY UPDATE, as the owner's change takes: a record being
    # added under the account holds a key-share lock on it, which does not stop this.)
    table = entity_table("account")
    row = sa.select(table.c.id).where(table.c.id == account.id).with_for_update(key_share=True)
    session.connection().execute(row)
    # Under the lock, no record can be added to the account unseen between the listing below
    # and this commit: it would be logged for the old owner only.
    lock_change_log(session)
    if old_owner is not None:
        # Logged before the account's own upsert: devices that keep the account (a manager's)
        # purge it, then get it back whole from the upserts that follow.
        record_changes(
            session, [PendingChange("account", account.id, "purge", account.id, old_owner, owner_known=True)]
        )
    account.owner_id = owner_id
    session.flush()
    changes = []
    # Re-announce every record under the account to its new owner: they may predate its cursor.
    conn = session.connection()
    for name in ENTITIES:
        table = entity_table(name)
        if name == "account" or "account_id" not in table.c:
            continue
        for (row_id,) in conn.execute(sa.select(table.c.id).where(table.c.account_id == account.id)):
            changes.append(PendingChange(name, row_id, "upsert", account.id, owner_id, owner_known=True))
    record_changes(session, changes)
