"""Schema migrations of the server database (Alembic), callable from code and the CLI.

Migrations are expand-only, so that servers of the previous release keep working against a
database a newer server migrated (they run side by side during a rolling upgrade): a new
column is nullable or has a server default, a new index on a large table is built
CONCURRENTLY (in `op.get_context().autocommit_block()`: each revision runs in its own
transaction, so a revision may step outside it), and a column or table is dropped only two
releases after the code stopped using it (sync/wire.py: SCHEMA_VERSION).

Revisions are numbered 0001, 0002...: a database at a number above this server's head was
migrated by a newer server (`schema_state` says "ahead"), which this server serves as it is.
"""

from __future__ import annotations

import re
import time
from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "SchemaState",
    "alembic_config",
    "current_revision",
    "head_revision",
    "schema_state",
    "server_table_names",
    "upgrade",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Held while migrating so that several server processes starting at once migrate once.
_MIGRATION_LOCK = 0x7465727261696D
#: How revisions are named: numbers in sequence.
_NUMBERED = re.compile(r"\d{4,9}")

#: Where a database's schema stands for this server: its head; an older revision of its own
#: (run `terrain-server migrate`); a newer server's revision (expand-only: still served); or
#: a revision neither (another application's database, or a hand-edited version table).
SchemaState = Literal["current", "behind", "ahead", "unknown"]


def server_table_names() -> set[str]:
    from app.models import ENTITIES
    from server.models import SERVER_TABLES

    return set(ENTITIES) | set(SERVER_TABLES)


def alembic_config(script_location: Path | str | None = None) -> Config:
    """This server's migrations (or those in `script_location`, a copy with more of them)."""
    config = Config()
    config.set_main_option("script_location", str(script_location or _MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head", *, script_location: Path | str | None = None) -> None:
    """Migrate to `revision`; a database a newer server migrated already is left as it is.

    Each revision commits on its own (so one may build an index CONCURRENTLY, outside any
    transaction); a session-level advisory lock on PostgreSQL makes concurrent callers wait
    for the first, then find nothing left to do.
    """
    config = alembic_config(script_location)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            _wait_for_lock(connection)
        try:
            current = MigrationContext.configure(connection).get_current_revision()
            connection.commit()  # Alembic begins each revision's transaction itself
            if revision == "head" and script_location is None and schema_state(current) == "ahead":
                return  # a newer server's migrations are expand-only: nothing to do here
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()  # anything Alembic read after its last revision
        finally:
            connection.rollback()  # after a failure: the unlock needs a usable connection
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                connection.commit()


def _wait_for_lock(connection: Connection) -> None:
    """Take the migration lock (session level), asking again until free. Not a blocking wait:
    a waiting statement holds a snapshot, and an index built CONCURRENTLY by the process that
    migrates would wait for that snapshot to end, while this one waits for its lock."""
    while True:
        taken = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({_MIGRATION_LOCK})").scalar()
        connection.commit()
        if taken:
            return
        time.sleep(0.2)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return _history()[0]


@cache
def _history() -> tuple[str | None, frozenset[str]]:
    """This server's head revision and every revision it knows (read from its files once)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return scripts.get_current_head(), frozenset(script.revision for script in scripts.walk_revisions())


def schema_state(revision: str | None) -> SchemaState:
    """Where a database at `revision` stands for this server (see `SchemaState`)."""
    head, known = _history()
    if revision == head:
        return "current"
    if revision is None or revision in known:
        return "behind"
    if head and _NUMBERED.fullmatch(revision) and _NUMBERED.fullmatch(head) and int(revision) > int(head):
        return "ahead"
    return "unknown"
