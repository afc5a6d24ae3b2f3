"""`terrain-server`: run, migrate and fill the central CRM server."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import select

if TYPE_CHECKING:
    from server.backup import Outcome

__all__ = ["main"]


def _engine() -> Engine:
    from server.db import get_engine

    return get_engine()


def _migrate(_args: argparse.Namespace) -> int:
    from server.migrate import current_revision, upgrade

    engine = _engine()
    upgrade(engine)
    print(f"database at revision {current_revision(engine)} ({engine.url.render_as_string(hide_password=True)})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.db import get_engine
    from server.main import create_app
    from server.migrate import upgrade
    from server.observe import log_config, prepare_multiprocess_dir
    from server.settings import get_settings
    from server.workers import port_problem, serve_workers, spreads_connections

    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    own_sockets = args.workers > 1 and spreads_connections()
    if own_sockets and (problem := port_problem(args.host, args.port)):
        print(f"error: {problem}", file=sys.stderr)  # before migrating, or emptying the metrics
        return 1
    if not args.no_migrate:
        upgrade(_engine())
        _index_accounts_once()
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("error: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    if args.workers > 1:
        get_engine().dispose()  # the workers start their own processes, connections and pools
    prepare_multiprocess_dir(args.workers)  # the workers' metrics meet in PROMETHEUS_MULTIPROC_DIR
    settings = get_settings()
    log_level = (args.log_level or settings.log_level).lower()  # --log-level, else TERRAIN_LOG_LEVEL
    options: dict[str, Any] = {
        # Several workers import the app themselves (each its own process, connections and pool).
        "app": "server.main:create_app" if args.workers > 1 else create_app(),
        "factory": args.workers > 1,
        "workers": args.workers,
        "host": args.host,
        "port": args.port,
        "log_level": log_level,
        "log_config": log_config(settings.log_format, log_level),  # JSON lines with the request id
        "access_log": False,  # server/observe.py logs each request, with more
        "ssl_certfile": args.ssl_certfile,
        "ssl_keyfile": args.ssl_keyfile,
        "proxy_headers": True,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "timeout_worker_healthcheck": 60,  # a worker still importing on a busy machine is not hung
    }
    if own_sockets:
        return serve_workers(args.workers, options)  # a listening socket each (server/workers.py)
    uvicorn.run(**options)
    return 0


def _index_accounts_once() -> None:
    """A database older than the duplicate keys gets them at its first start."""
    from server.db import ServerSession
    from server.merges import ensure_duplicate_keys

    with ServerSession(_engine()) as session:
        indexed = ensure_duplicate_keys(session)
        session.commit()
    if indexed is not None:
        print(f"duplicate keys built for {indexed} accounts", file=sys.stderr)


def _rebuild_duplicate_keys(_args: argparse.Namespace) -> int:
    from server.db import ServerSession
    from server.merges import rebuild_duplicate_keys
    from server.migrate import upgrade

    engine = _engine()
    upgrade(engine)
    with ServerSession(engine) as session:
        indexed = rebuild_duplicate_keys(session)
        session.commit()
    print(f"duplicate keys rebuilt for {indexed} accounts")
    return 0


def _user_add(args: argparse.Namespace) -> int:
    from server.db import ServerSession
    from server.migrate import upgrade
    from server.models import User
    from server.security import hash_password, password_problem

    engine = _engine()
    upgrade(engine)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    problem = password_problem(password, args.username)
    if problem and not args.allow_short_password:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with ServerSession(engine) as session:
        if session.exec(select(User).where(User.username == args.username)).first():
            print(f"error: user {args.username!r} already exists", file=sys.stderr)
            return 1
        manager_id = None
        if args.manager:
            manager = session.exec(select(User).where(User.username == args.manager)).first()
            if manager is None:
                print(f"error: no manager named {args.manager!r}", file=sys.stderr)
                return 1
            manager_id = manager.id
        user = User(
            username=args.username,
            full_name=args.full_name or args.username,
            role=args.role,
            manager_id=manager_id,
            password_hash=hash_password(password),
            email=args.email,
            monthly_revenue_target_amount=args.revenue_target,
            monthly_order_target=args.order_target,
            target_currency=args.currency or "EUR",
        )
        session.add(user)
        session.commit()
        print(f"added {args.role} {user.username} ({user.id})")
    return 0


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--revenue-target", type=_non_negative, help="monthly net revenue target, in minor units (cents)"
    )
    parser.add_argument("--order-target", type=_non_negative, help="monthly number of orders")
    parser.add_argument("--currency", type=_currency, help="currency of the revenue target (EUR when not given)")


def _currency(text: str) -> str:
    from babel.numbers import is_currency

    code = text.strip().upper()
    if not is_currency(code):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 4217 currency code (EUR, USD, CHF...)")
    return code


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _user_target(args: argparse.Namespace) -> int:
    from server.db import ServerSession
    from server.migrate import upgrade
    from server.models import User

    engine = _engine()
    upgrade(engine)
    with ServerSession(engine) as session:
        user = session.exec(select(User).where(User.username == args.username)).first()
        if user is None:
            print(f"error: no user named {args.username!r}", file=sys.stderr)
            return 1
        # Only what is given changes: setting the orders target keeps the revenue target.
        if args.clear:
            user.monthly_revenue_target_amount = user.monthly_order_target = None
        if args.revenue_target is not None:
            user.monthly_revenue_target_amount = args.revenue_target
        if args.order_target is not None:
            user.monthly_order_target = args.order_target
        if args.currency is not None:
            user.target_currency = args.currency
        session.add(user)
        session.commit()
        revenue, orders, currency = user.monthly_revenue_target_amount, user.monthly_order_target, user.target_currency
    print(
        f"{args.username}: monthly targets: revenue {revenue if revenue is not None else 'none'}"
        f" ({currency}, minor units), orders {orders if orders is not None else 'none'}"
        " (devices see them at their next sign-in or token refresh)"
    )
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from server.db import ServerSession
    from server.demo import DEMO_PASSWORD, load_demo_data
    from server.migrate import upgrade

    engine = _engine()
    upgrade(engine)
    with ServerSession(engine) as session:
        try:
            summary = load_demo_data(session=session, seed=args.seed, today=args.today)
        except ValueError as exc:
            print(f"demo data not loaded: {exc}", file=sys.stderr)
            return 1
    _index_accounts_once()
    rows = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
    print(f"demo data loaded (seed {args.seed}): {rows}")
    print(f"demo logins (DEMO ONLY, password '{DEMO_PASSWORD}'):")
    for username, role in summary.users.items():
        print(f"  {username:8} {role}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from server.compact import compact_change_log
    from server.db import ServerSession

    with ServerSession(_engine()) as session:
        removed = compact_change_log(session=session, older_than=timedelta(days=args.older_than_days))
    print(f"removed {removed} change-log entries older than {args.older_than_days} days")
    return 0


def _import(args: argparse.Namespace) -> int:
    from server.db import ServerSession
    from server.imports import import_accounts, import_orders

    run = import_accounts if args.kind == "accounts" else import_orders
    with ServerSession(_engine()) as session:
        report = run(session=session, path=Path(args.file), skip_bad_rows=args.skip_bad_rows)
    for line in report.lines():
        print(line, file=sys.stderr)
    if not report.imported:
        print(f"nothing imported: {len(report.bad_rows)} bad rows (fix them, or pass --skip-bad-rows)", file=sys.stderr)
        return 1
    skipped = f", {len(report.bad_rows)} bad rows left out" if report.bad_rows else ""
    print(f"{args.kind}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged{skipped}")
    return 0


def _send_mail(_args: argparse.Namespace) -> int:
    from server.mailer import send_due_mail
    from server.settings import get_settings

    run = send_due_mail(engine=_engine(), settings=get_settings())
    print(f"e-mails: {run.sent} sent, {run.waiting} waiting, {run.failed} failed")
    if run.problem:
        print(run.problem, file=sys.stderr)
        return 1
    return 0


def _backup(args: argparse.Namespace) -> int:
    from server.backup import backup_command

    return _said(backup_command(Path(args.file), force=args.force))


def _restore(args: argparse.Namespace) -> int:
    from server.backup import restore_command

    backup = Path(args.file) if args.file else None
    return _said(restore_command(backup, yes=args.yes, mark_restored_only=args.mark_restored))


def _said(outcome: Outcome) -> int:
    for line in outcome.out:
        print(line)
    for line in outcome.err:
        print(line, file=sys.stderr)
    return outcome.status


def _date(text: str) -> date:
    return date.fromisoformat(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="terrain-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema at start")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (PostgreSQL: about one per core; they share nothing but the database)",
    )
    serve.add_argument("--log-level", help="debug, info, warning or error (default: TERRAIN_LOG_LEVEL, else info)")
    serve.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM, with its chain)")
    serve.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="reverse proxies whose X-Forwarded-For is believed (the client's address for throttling)",
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema to the latest version")
    migrate.set_defaults(handler=_migrate)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a rep, a manager or an admin")
    add.add_argument("username")
    add.add_argument("--role", choices=("rep", "manager", "admin"), default="rep")
    add.add_argument("--full-name")
    add.add_argument("--email")
    add.add_argument("--manager", help="user name of the rep's manager")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--allow-short-password", action="store_true", help=argparse.SUPPRESS)
    _target_arguments(add)
    add.set_defaults(handler=_user_add)
    target = user_commands.add_parser("target", help="set a user's monthly targets (revenue, orders)")
    target.add_argument("username")
    _target_arguments(target)
    target.add_argument("--clear", action="store_true", help="remove both targets first")
    target.set_defaults(handler=_user_target)

    compact = commands.add_parser(
        "compact", help="drop change-log entries older than the retention; older devices re-sync from scratch"
    )
    compact.add_argument(
        "--older-than-days", type=float, default=30, help="retention (0: everything so far; 0.5: 12 hours)"
    )
    compact.set_defaults(handler=_compact)

    imports = commands.add_parser("import", help="import accounts or orders from the ERP's CSV export")
    imports.add_argument("kind", choices=("accounts", "orders"))
    imports.add_argument("file")
    imports.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="import the good rows and report the bad ones (default: all or nothing)",
    )
    imports.set_defaults(handler=_import)

    send_mail = commands.add_parser(
        "send-mail", help="send the reps' e-mails that are due now through the SMTP settings, once"
    )
    send_mail.set_defaults(handler=_send_mail)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database into FILE, safely while the server runs (PostgreSQL: pg_dump)"
    )
    backup.add_argument("file")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore", help="put a backup in place of the SQLite database, the server stopped (PostgreSQL: pg_restore)"
    )
    restore.add_argument("file", nargs="?", help="a file written by `terrain-server backup`")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument(
        "--mark-restored",
        action="store_true",
        help="replace nothing: make every device pull the configured database afresh (after pg_restore)",
    )
    restore.set_defaults(handler=_restore)

    keys = commands.add_parser(
        "rebuild-duplicate-keys",
        help="index every account's identifiers again for the duplicate checks (after a load made outside the server)",
    )
    keys.set_defaults(handler=_rebuild_duplicate_keys)

    demo = commands.add_parser("demo-data", help="fill an empty database with the demo company")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--today", type=_date, default=None, help="the day the data is centred on (default: today)")
    demo.set_defaults(handler=_demo_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
