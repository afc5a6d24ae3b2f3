"""Moving an account to another rep: the old rep's devices purge it, the new rep's get it whole."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from app.models import ENTITIES, Account, entity_table
from server.db import PendingChange, record_changes

__all__ = ["reassign_account"]


def reassign_account(*, session: Session, account: Account, owner_id: str) -> None:
    old_owner = account.owner_id
    if old_owner == owner_id:
        return
    account.owner_id = owner_id
    session.flush()
    changes = []
    if old_owner is not None:
        changes.append(PendingChange("account", account.id, "purge", account.id, old_owner, owner_known=True))
    # Re-announce every record under the account to its new owner: they may predate its cursor.
    conn = session.connection()
    for name in ENTITIES:
        table = entity_table(name)
        if name == "account" or "account_id" not in table.c:
            continue
        for (row_id,) in conn.execute(sa.select(table.c.id).where(table.c.account_id == account.id)):
            changes.append(PendingChange(name, row_id, "upsert", account.id, owner_id, owner_known=True))
    record_changes(session, changes)
