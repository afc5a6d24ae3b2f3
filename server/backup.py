"""Backups of the SQLite server database, and putting one back (`terrain-server backup|restore`).

A backup is SQLite's online backup (`sqlite3.Connection.backup`), read in one step: a consistent
copy of the database as one transaction saw it, taken while the server runs and writes (WAL:
readers and writers do not wait for each other). It is written beside FILE and renamed into place,
so FILE is either absent or whole.

A restore puts a copy of the backup in place of the database, with the server stopped: the
database replaced is kept beside it (its write-ahead log checkpointed into it first, so the kept
file is whole on its own), and the copy is renamed over the database in one step.

Every device's cursor is then a position in a change log that no longer exists past the backup:
a device that synced, or only pushed, after the backup holds records and versions the server
lost. So a restore also *fences* the change log: it continues far past every position devices
knew, and the log before it counts as compacted. Every device's next pull is then answered 410
and the device pulls afresh, keeping its outbox (`SyncEngine.pull`). Without the fence, a device
ahead of the restored log would get 410 only until new changes overtook its cursor, and would
then miss them silently. `mark_restored` fences a database restored by other means (pg_restore).

PostgreSQL is backed up and restored with its own tools (pg_dump -Fc, pg_restore, or continuous
archiving): see README, "Backups".
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from server.compact import log_extent, set_horizon
from server.db import begin_write, lock_change_log
from server.models import COMPACTED_THROUGH

__all__ = [
    "FENCE_GAP",
    "BackupError",
    "Outcome",
    "BackupReport",
    "RestoreReport",
    "backup_command",
    "backup_sqlite",
    "mark_restored",
    "renew_signing_key",
    "restore_command",
    "restore_sqlite",
    "sqlite_database_path",
]

#: How far past every known position the change log continues after a restore. A device's
#: cursor is at most the replaced database's last position, unless that database is gone too
#: (a lost disk): this margin covers a billion changes made after the backup.
FENCE_GAP = 1_000_000_000
#: How long the backup waits for SQLite's locks (a checkpoint, a schema change).
_BUSY_SECONDS = 60.0
_POSTGRESQL_HELP = """\
this server's database is PostgreSQL: back it up and restore it with PostgreSQL's own tools (README, "Backups"):
  pg_dump -Fc -f terrain.dump '{libpq}'
and, to restore, with the server stopped:
  createdb {options}{restored}
  pg_restore --no-owner -d '{restored_libpq}' terrain.dump
  TERRAIN_DATABASE_URL='{restored_url}' terrain-server migrate
  TERRAIN_DATABASE_URL='{restored_url}' terrain-server restore --mark-restored --yes
then stop the server and start it with TERRAIN_DATABASE_URL set to the new database.
Continuous archiving with point-in-time recovery works too: run the last command on the recovered database."""


class BackupError(RuntimeError):
    """The backup or the restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size: int
    revision: str
    #: The change-log position the backup holds (the last sequence number handed out).
    position: int


@dataclass(frozen=True, slots=True)
class RestoreReport:
    database: Path
    #: The database replaced, kept beside it (None: there was none).
    kept: Path | None
    revision: str
    #: The backup's change-log position, and where the log continues now.
    position: int
    fenced_at: int | None


def sqlite_database_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL; None for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        raise BackupError(f"{url} is not a SQLite database file")
    return Path(parsed.database).resolve()


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """A connection that never creates the file (`mode` ro or rw)."""
    return sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, timeout=_BUSY_SECONDS)


def _revision(conn: sqlite3.Connection) -> str:
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1:
        raise BackupError("its alembic_version table does not hold one schema revision")
    return str(rows[0][0])


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _position(conn: sqlite3.Connection) -> int:
    """The last change-log position handed out (a compacted log still knows how far it went)."""
    newest = int(conn.execute("SELECT coalesce(max(seq), 0) FROM change_log").fetchone()[0])
    if "server_state" not in _tables(conn):
        return newest
    row = conn.execute("SELECT value FROM server_state WHERE key = ?", (COMPACTED_THROUGH,)).fetchone()
    return max(newest, int(row[0]) if row else 0)


def _check_terrain_database(conn: sqlite3.Connection, name: Path) -> str:
    """The schema revision of a Terrain server database that passes SQLite's integrity check."""
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
        missing = {"alembic_version", "change_log"} - _tables(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name} is not a SQLite database ({exc})") from exc
    if problems != ["ok"]:
        raise BackupError(f"{name} is damaged (integrity check: {'; '.join(problems[:5])})")
    if missing:
        raise BackupError(f"{name} is not a Terrain server database (no {', '.join(sorted(missing))} table)")
    revision = _revision(conn)
    from server.migrate import schema_state

    if schema_state(revision) == "unknown":
        raise BackupError(f"{name} is at schema revision {revision}, which this version of Terrain does not know")
    return revision


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """SQLite's online backup of `source` into a new file `target`, in one step (one snapshot),
    left as a single file (rollback journal, no -wal beside it)."""
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)  # every page in one step: one read transaction, one snapshot
        destination.execute("PRAGMA journal_mode=DELETE")
        destination.commit()
    finally:
        destination.close()


def backup_sqlite(database: Path, target: Path, *, force: bool = False) -> BackupReport:
    """Copy the live database into `target` (refused if it exists, unless `force`)."""
    target = target.absolute()
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if target.resolve() in {database, Path(f"{database}-wal"), Path(f"{database}-shm")}:
        raise BackupError(f"{target} is the database itself: write the backup elsewhere")
    if target.is_dir():
        raise BackupError(f"{target} is a directory: name the backup file")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: pass --force to replace it")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        source = _connect(database, "rw")  # rw: a reader of a WAL database may need to set up its -shm
        try:
            _copy(source, partial)
        finally:
            source.close()
        check = _connect(partial, "rw")
        try:
            revision = _check_terrain_database(check, database)
            position = _position(check)
        finally:
            check.close()
        _fsync(partial)
        if force:
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)  # never replaces a file that appeared meanwhile
            except FileExistsError as exc:
                raise BackupError(f"{target} exists: pass --force to replace it") from exc
            partial.unlink()
        _fsync(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"the backup of {database} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(target, target.stat().st_size, revision, position)


def _fence(engine: sa.Engine, beyond: int = 0) -> tuple[int, int]:
    """Make the change log continue FENCE_GAP past its own position and `beyond`, and count
    everything before as compacted: every cursor handed out so far is answered 410.
    Returns (the position before, the position now)."""
    with Session(engine) as session:
        begin_write(session)  # SQLite: the write lock before reading the position
        lock_change_log(session)  # PostgreSQL: no commit numbers entries meanwhile
        _, position = log_extent(session)
        fence = max(position, beyond) + FENCE_GAP
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence('change_log', 'seq')")).scalar()
            if sequence is None:
                raise BackupError("change_log.seq has no sequence in this database: it was not made by terrain-server")
            conn.execute(
                sa.text("SELECT setval(CAST(:sequence AS regclass), :fence)"), {"sequence": sequence, "fence": fence}
            )
        else:  # AUTOINCREMENT numbers from max(sqlite_sequence, max(seq)) + 1
            conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'change_log'"))
            conn.execute(
                sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('change_log', :fence)"), {"fence": fence}
            )
        set_horizon(session, fence)
        session.commit()
    return position, fence


def mark_restored(url: str) -> tuple[int, int]:
    """Fence the change log of a database restored by other means (pg_restore, a file put back
    by hand): every device pulls afresh at its next sync. Returns (position before, after)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        missing = {"change_log", "server_state"} - set(sa.inspect(engine).get_table_names())
        if missing:
            raise BackupError(
                f"no {', '.join(sorted(missing))} table in this database: run `terrain-server migrate` first"
            )
        return _fence(engine)
    finally:
        engine.dispose()


def _checkpoint_or_none(database: Path) -> int | None:
    """Fold the database's write-ahead log into it and close it; its change-log position (None:
    not readable as a Terrain database, its files are then kept as they are). Refused when
    another process has it open: the server must be stopped."""
    try:
        conn = _connect(database, "rw")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            position = _position(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
            raise BackupError(f"{database} is in use by another process: stop `terrain-server serve` first") from exc
        return None  # damaged, or not a database: kept as it is
    # The last connection to close deletes the -wal: one still there is another process's.
    if busy or Path(f"{database}-wal").exists():
        raise BackupError(
            f"another process has {database} open: stop `terrain-server serve` (and anything else using it), then"
            " restore again"
        )
    return position


def _keep_aside(database: Path, now: datetime) -> Path:
    """Keep the database (and a write-ahead log that could not be folded into it) under a new
    name, leaving the database in place until the restored copy replaces it."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        kept = database.with_name(f"{database.name}.before-restore-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            os.link(database, kept)
            break
        except FileExistsError:
            continue
        except OSError:  # no hard links here: a copy
            if kept.exists():
                continue
            shutil.copy2(database, kept)
            break
    else:
        raise BackupError(f"cannot name the copy of {database} to keep")
    for suffix in ("-wal", "-shm"):
        side = Path(f"{database}{suffix}")
        if side.exists():  # left by a crash, in a database that could not be opened: keep it with it
            os.replace(side, Path(f"{kept}{suffix}"))
    return kept


def restore_sqlite(backup: Path, database: Path, *, now: datetime | None = None) -> RestoreReport:
    """Put a copy of `backup` in place of `database` (the server stopped), keeping the one replaced."""
    backup = backup.absolute()
    if not backup.is_file():
        raise BackupError(f"no backup file {backup}")
    if backup.resolve() == database:
        raise BackupError(f"{backup} is the database itself")
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".{database.name}.restore-{os.getpid()}.partial")
    try:
        try:
            source = _connect(backup, "ro")
            try:
                _copy(source, partial)
            finally:
                source.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database ({exc})") from exc
        check = _connect(partial, "rw")
        try:
            revision = _check_terrain_database(check, backup)
            position = _position(check)
            fenceable = "server_state" in _tables(check)
        finally:
            check.close()
        replaced = _checkpoint_or_none(database) if database.exists() else None
        fenced_at = None
        if fenceable:
            engine = sa.create_engine(f"sqlite:///{partial}", poolclass=sa.pool.NullPool)
            try:
                _, fenced_at = _fence(engine, beyond=replaced or 0)
            finally:
                engine.dispose()
        _fsync(partial)
        kept = _keep_aside(database, now or datetime.now(UTC)) if database.exists() else None
        os.replace(partial, database)
        _fsync(database.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"the restore of {backup} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return RestoreReport(database, kept, revision, position, fenced_at)


def _configured_url() -> str:
    from server.settings import get_settings

    return get_settings().resolved_database_url()


def renew_signing_key() -> str:
    """Renew the generated key that signs access tokens; what was done, or what to do, to say.

    The restored database has no trace of the devices and users added after the backup: an
    access token the old server signed for one of them would be answered as for a revoked device
    (the device erases its data, outbox included). With a new key every such token is refused
    (401), the device renews its session, and one the restored database does not know asks for
    the password instead, its data kept.
    """
    from server.settings import get_settings

    settings = get_settings()
    if settings.secret_key:
        return (
            "TERRAIN_SECRET_KEY is set: give it a new value before starting the server (or start it no sooner than"
            f" {settings.access_token_minutes} minutes after the old one stopped), else a device that first signed in"
            " after the backup takes itself for revoked and erases its data, unsent changes included"
        )
    key_file = settings.server_data_dir / "secret_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    partial = key_file.with_name(f".{key_file.name}.{os.getpid()}.partial")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(secrets.token_urlsafe(48))
    os.replace(partial, key_file)
    return (
        f"the key signing access tokens ({key_file}) is renewed: devices renew their sessions by themselves;"
        " a device that signed in after the backup asks for its password"
    )


@dataclass
class Outcome:
    """What a command says (on standard output, on standard error) and its exit status."""

    status: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def fail(self, message: str, status: int = 1) -> Outcome:
        self.err.append(message)
        self.status = status
        return self


def backup_command(target: Path, *, force: bool) -> Outcome:
    """`terrain-server backup FILE [--force]`."""
    outcome = Outcome()
    url = _configured_url()
    try:
        database = sqlite_database_path(url)
        if database is None:
            return outcome.fail(_postgresql_help(url), 2)
        report = backup_sqlite(database, target, force=force)
    except BackupError as exc:
        return outcome.fail(f"error: {exc}")
    outcome.out.append(
        f"backup written: {report.path} ({report.size} bytes) of {database},"
        f" schema revision {report.revision}, change log at {report.position}"
    )
    return outcome


def _postgresql_help(url: str) -> str:
    parsed = make_url(url)
    restored = parsed.set(database=f"{parsed.database or 'terrain'}_restored")
    options = "".join(
        f"{flag} {value} "
        for flag, value in (("-h", parsed.host), ("-p", parsed.port), ("-U", parsed.username))
        if value
    )
    return _POSTGRESQL_HELP.format(
        libpq=parsed.set(drivername="postgresql").render_as_string(hide_password=True),
        options=options,
        restored=restored.database,
        restored_libpq=restored.set(drivername="postgresql").render_as_string(hide_password=True),
        restored_url=restored.render_as_string(hide_password=True),
    )


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes", "o", "oui"}


_NOT_CONFIRMED = "not confirmed: nothing changed (pass --yes when no one is there to answer)"


def restore_command(backup: Path | None, *, yes: bool, mark_restored_only: bool = False) -> Outcome:
    """`terrain-server restore FILE [--yes]`, and `restore --mark-restored` (after pg_restore)."""
    outcome = Outcome()
    url = _configured_url()
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        if mark_restored_only:
            if backup is not None:
                return outcome.fail("error: --mark-restored takes no FILE: it marks the configured database", 2)
            if not yes and not _confirmed(f"Make every device pull {shown} afresh at its next sync?"):
                return outcome.fail(_NOT_CONFIRMED)
            before, after = mark_restored(url)
            outcome.out += [
                f"{shown}: marked as restored (change log at {before}, continues after {after})",
                "every device pulls everything again at its next sync, keeping its unsent changes",
                renew_signing_key(),
            ]
            return outcome
        if backup is None:
            return outcome.fail("error: name the backup FILE to restore", 2)
        database = sqlite_database_path(url)
        if database is None:
            return outcome.fail(_postgresql_help(url), 2)
        question = f"Replace {database} with {backup}? Stop the server first; the replaced database is kept beside it."
        if not yes and not _confirmed(question):
            return outcome.fail(_NOT_CONFIRMED)
        report = restore_sqlite(backup, database)
    except BackupError as exc:
        return outcome.fail(f"error: {exc}")
    outcome.out += [*_restored_lines(backup, report), renew_signing_key()]
    return outcome


def _restored_lines(backup: Path, report: RestoreReport) -> list[str]:
    from server.migrate import head_revision, schema_state

    lines = [
        f"restored {backup} into {report.database} (schema revision {report.revision}, change log at {report.position})"
    ]
    if report.kept is not None:
        lines.append(f"the replaced database is kept as {report.kept}")
    if report.fenced_at is not None:
        lines.append(
            f"the change log continues after {report.fenced_at}: every device pulls everything again at its next"
            " sync, keeping its unsent changes"
        )
    else:
        lines.append(
            "this backup predates the change-log fence: run `terrain-server migrate`, then"
            " `terrain-server restore --mark-restored`, before starting the server"
        )
    lines.append(
        "changes that reached the server after this backup and are in no device's outbox are lost;"
        " e-mails sent after the backup was taken are queued again in it and, with mail on, go a second time"
        " (README, 'Backups', lists what else)"
    )
    head = head_revision()
    if schema_state(report.revision) == "ahead":
        lines.append(
            f"this backup is at schema revision {report.revision}, newer than this server's {head}:"
            " this server serves it as it is (newer schemas only add to what it reads)"
        )
    elif report.revision != head:
        lines.append(
            f"this backup is at schema revision {report.revision}, this server's is {head}: run"
            " `terrain-server migrate` (or start `terrain-server serve`, which migrates first)"
        )
    else:
        lines.append(f"schema revision {head} is this server's: start `terrain-server serve`")
    return lines
