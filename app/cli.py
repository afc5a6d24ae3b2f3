"""`terrain`: the app, and its scripting face for support and automation.

terrain                          open the app (web view on 127.0.0.1 where no desktop client runs)
terrain sync --server URL --user NAME [--password-stdin]
terrain status [--json]
terrain card QUERY [--json] [--as-of DAY] [--lang fr|en]
terrain figures --from DAY --to DAY [--json]
terrain export ics [--from DAY] [--to DAY] [--out FILE]
terrain export vcard [--out FILE]
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _data_dir(args: argparse.Namespace) -> Path:
    from app.replica import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _sync(args: argparse.Namespace) -> int:
    from app.services import InvalidServerUrl, PlainHttpServer, open_device
    from sync.engine import PullProgress
    from sync.errors import SyncError

    try:
        device = open_device(
            _data_dir(args),
            server_url=args.server,
            allow_file_token=args.remember_in_file,
            allow_plain_http=args.allow_http,
        )
    except InvalidServerUrl as exc:
        print(f"error: {exc}" + (" (--allow-http)" if isinstance(exc, PlainHttpServer) else ""), file=sys.stderr)
        return 2
    try:
        state = device.engine.state()
        needs_login = args.user is not None and (args.user != state.get("username") or args.server)
        if needs_login or not device.engine.has_session():
            username = args.user or state.get("username")
            if not username:
                print("error: say who you are with --user NAME", file=sys.stderr)
                return 2
            password = (
                sys.stdin.readline().rstrip("\n")
                if args.password_stdin
                else getpass.getpass(f"Password for {username}: ")
            )
            device.engine.sign_in(username=username, password=password)
            warning = getattr(device.engine.token_store, "warning", None)
            if warning:
                print(f"note: {warning} (--remember-in-file)", file=sys.stderr)

        def progress(step: PullProgress) -> None:
            if not args.quiet:
                of = f" of {step.total}" if step.total is not None else ""
                line = f"\rreceived {step.records}{of} records ({step.pages} pages)"
                print(line, end="", file=sys.stderr, flush=True)

        report = device.engine.sync(on_page=progress)
    except SyncError as exc:
        print(f"\nsync failed: {exc}", file=sys.stderr)
        return 1
    finally:
        device.close()
    if not args.quiet:
        print(file=sys.stderr)
    sent, got = report.pushed, report.pulled
    print(
        f"synced: sent {sent.applied + sent.rejected} changes ({sent.applied} applied, {sent.rejected} refused,"
        f" {sent.conflicts} conflicts); received {got.upserts} records, {got.deletes} deleted,"
        f" {got.purges} accounts removed"
    )
    if sent.rejected or sent.conflicts:
        print("see what was refused and the conflicts to settle with: terrain status", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from app.services import device_status, open_device

    device = open_device(_data_dir(args))
    try:
        status = device_status(device)
    finally:
        device.close()
    if args.json:
        _print_json(status)
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return 0


def _card(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from app.card import card_as_json, customer_card, find_account
    from app.dashboard import book_rfm
    from app.i18n import Translator
    from app.preferences import Preferences
    from app.replica import open_device_replica

    data_dir = _data_dir(args)
    engine = open_device_replica(data_dir)
    try:
        with Session(engine) as session:
            account = find_account(session=session, query=args.query)
            if account is None:
                print(f"no account matches {args.query!r} on this device", file=sys.stderr)
                return 1
            day = args.as_of or date.today()
            # Recency, frequency and net revenue of the 365 days before the day, scored among the book.
            card = customer_card(
                session=session, account_id=account.id, today=day, book_rfm=book_rfm(session=session, day=day)
            )
    finally:
        engine.dispose()
    assert card is not None
    prefs = Preferences.load(data_dir)
    t = Translator(args.lang or prefs.language, prefs.time_zone)
    data = card_as_json(card, describe=t.brief_point)
    if data["rfm"] is not None:
        data["rfm"]["as_of"] = day.isoformat()
    if args.json:
        _print_json(data)
    else:
        account_data = data["account"]
        print(f"{account_data['name']} — {account_data.get('billing_city') or ''} ({account_data['lifecycle_stage']})")
        for point in data["brief"]:
            print(f"- {point['text']}")
        print(
            f"contacts: {len(data['contacts'])}, orders: {data['order_count']}, open invoices: {len(data['open_invoices'])}"
        )
    return 0


def _how_many(count: int, thing: str) -> str:
    return f"{count} {thing}" + ("" if count == 1 else "s")


def _write_export(content: bytes, out: Path | None, what: str) -> int:
    """The file on standard output, or into `out` with a count on standard error."""
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return 0
    try:
        out.write_bytes(content)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {what} to {out}", file=sys.stderr)
    return 0


def _export_ics(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from app.export import agenda_calendar
    from app.preferences import Preferences
    from app.replica import open_device_replica

    if args.start is not None and args.end is not None and args.end < args.start:
        print("error: the period ends before it starts", file=sys.stderr)
        return 2
    data_dir = _data_dir(args)
    engine = open_device_replica(data_dir)
    try:
        with Session(engine) as session:
            calendar = agenda_calendar(
                session=session, start=args.start, end=args.end, language=Preferences.load(data_dir).language
            )
    finally:
        engine.dispose()
    return _write_export(calendar.to_ical(), args.out, _how_many(len(calendar.events), "visit"))


def _export_vcard(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from app.export import contact_cards
    from app.preferences import Preferences
    from app.replica import open_device_replica

    data_dir = _data_dir(args)
    engine = open_device_replica(data_dir)
    try:
        with Session(engine) as session:
            cards = contact_cards(session=session, language=Preferences.load(data_dir).language)
    finally:
        engine.dispose()
    return _write_export("".join(cards).encode(), args.out, _how_many(len(cards), "contact"))


def _quote_pdf(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from app.i18n import Translator
    from app.preferences import Preferences
    from app.quote_pdf import QuoteNotFound, find_quote, quote_pdf
    from app.replica import open_device_replica

    data_dir = _data_dir(args)
    prefs = Preferences.load(data_dir)
    engine = open_device_replica(data_dir)
    try:
        with Session(engine) as session:
            try:
                quote = find_quote(session, args.quote)
            except QuoteNotFound as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            content = quote_pdf(
                session=session, quote=quote, t=Translator(args.lang or prefs.language, prefs.time_zone)
            )
            name = quote.legal_number or quote.provisional_number
    finally:
        engine.dispose()
    return _write_export(content, args.out, f"quote {name}")


def _run_app(args: argparse.Namespace) -> int:
    from views.main import run

    run(data_dir=_data_dir(args), host=args.host, port=args.port, server_url=args.server)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="terrain", description="Terrain, the field-sales CRM.")
    parser.add_argument("--data-dir", help="where the replica lives (default: TERRAIN_DATA_DIR or the user data dir)")
    parser.add_argument("--host", default="127.0.0.1", help="web view address (app only)")
    parser.add_argument("--port", type=int, default=8550, help="web view port (app only)")
    parser.add_argument("--server", help="server URL to offer on the sign-in screen (app only)")
    parser.set_defaults(handler=_run_app)
    commands = parser.add_subparsers(dest="command")

    sync = commands.add_parser("sync", help="sign in if needed, then sync this device's replica")
    sync.add_argument("--data-dir", default=argparse.SUPPRESS)
    sync.add_argument("--server", help="server URL, for example http://127.0.0.1:8000")
    sync.add_argument(
        "--allow-http",
        action="store_true",
        help="accept a plain-http server on another machine (passwords and data cross the network in clear)",
    )
    sync.add_argument("--user", help="user name (asks for the password)")
    sync.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sync.add_argument(
        "--remember-in-file",
        action="store_true",
        help="where no keyring exists, keep the session in a file readable only by you",
    )
    sync.add_argument("--quiet", action="store_true")
    sync.set_defaults(handler=_sync)

    status = commands.add_parser("status", help="what this device knows of its sync")
    status.add_argument("--data-dir", default=argparse.SUPPRESS)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    card = commands.add_parser("card", help="the customer card of an account, by id or name")
    card.add_argument("--data-dir", default=argparse.SUPPRESS)
    card.add_argument("query")
    card.add_argument("--json", action="store_true")
    card.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="the day the card is read on (default: today)"
    )
    card.add_argument("--lang", choices=["fr", "en"], help="language of the brief (default: the app's)")
    card.set_defaults(handler=_card)

    figures = commands.add_parser("figures", help="the figures of this device's book over a period")
    figures.add_argument("--data-dir", default=argparse.SUPPRESS)
    figures.add_argument("--from", dest="start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    figures.add_argument("--to", dest="end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    figures.add_argument("--json", action="store_true")
    figures.set_defaults(handler=_figures)

    export = commands.add_parser("export", help="the agenda or the contacts as files the phone's own apps read")
    export.add_argument("--data-dir", default=argparse.SUPPRESS)
    formats = export.add_subparsers(dest="format", required=True, metavar="{ics,vcard}")
    ics = formats.add_parser("ics", help="the visits as an iCalendar file (RFC 5545)")
    ics.add_argument("--data-dir", default=argparse.SUPPRESS)
    ics.add_argument("--from", dest="start", metavar="DAY", type=date.fromisoformat, help="first day, YYYY-MM-DD (UTC)")
    ics.add_argument("--to", dest="end", metavar="DAY", type=date.fromisoformat, help="last day, YYYY-MM-DD (UTC)")
    ics.add_argument("--out", metavar="FILE", type=Path, help="the file to write (default: standard output)")
    ics.set_defaults(handler=_export_ics)
    vcard = formats.add_parser("vcard", help="the contacts as vCard 3.0")
    vcard.add_argument("--data-dir", default=argparse.SUPPRESS)
    vcard.add_argument("--out", metavar="FILE", type=Path, help="the file to write (default: standard output)")
    vcard.set_defaults(handler=_export_vcard)

    quote = commands.add_parser("quote", help="quotes on this device")
    quote.add_argument("--data-dir", default=argparse.SUPPRESS)
    actions = quote.add_subparsers(dest="action", required=True, metavar="{pdf}")
    pdf = actions.add_parser("pdf", help="a quote as a PDF, by id, legal or provisional number")
    pdf.add_argument("--data-dir", default=argparse.SUPPRESS)
    pdf.add_argument("quote", help="the quote's id, legal number (Q-2026-000042) or provisional number (P3-00012)")
    pdf.add_argument("--out", metavar="FILE", type=Path, help="the file to write (default: standard output)")
    pdf.add_argument("--lang", choices=["fr", "en"], help="language of the PDF (default: the app's)")
    pdf.set_defaults(handler=_quote_pdf)
    return parser


def _figures(args: argparse.Namespace) -> int:
    from app.services import open_device

    if args.end < args.start:
        print("error: the period ends before it starts", file=sys.stderr)
        return 2
    device = open_device(_data_dir(args))
    try:
        result = device.figures(args.start, args.end)
    finally:
        device.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.credentials import NoSecureStore
    from app.replica import ReplicaError

    try:
        return int(args.handler(args))
    except ReplicaError as exc:  # the replica's encryption: what to do is in the message
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NoSecureStore as exc:
        print(f"error: {exc} (terrain sync --remember-in-file)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
