"""The Terrain app: sign-in, the customers list, the customer card and the settings.

Views only call app/ services; blocking work (HTTP, a whole sync) runs in a worker thread so
the screen stays responsive.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import flet as ft
from flet_geolocator import Geolocator, GeolocatorConfiguration, GeolocatorPermissionStatus

from app.agenda import AgendaVisit, DayRoute
from app.credentials import NoSecureStore
from app.edits import InvalidEdit
from app.followup import Draft
from app.i18n import LANGUAGES, Translator
from app.leads import BadgeReport
from app.preferences import Preferences
from app.services import Device, DueReminder, InvalidServerUrl, PlainHttpServer, check_server_url, open_device
from app.tiles import TileCheck
from sync.errors import AuthError, SyncError, Throttled, TransportError
from views.background import BackgroundSync, SyncSnapshot
from views.card import card_view
from views.catalogue import catalogue_view
from views.dashboard import dashboard_view
from views.encryption import encryption_switch
from views.followup import followup_page
from views.leads import BadgeImporter, LeadEntry, LeadForm, event_page, events_page
from views.merges import merges_view
from views.pipeline import pipeline_view
from views.quotes import QuoteForm, quote_form_page, quote_page, sign_page
from views.route_map import route_map
from views.secure_store import FletSecureStore, wants_flet_store
from views.segments import segments_view
from views.today import ReportForm, check_in_page, report_page, today_view, week_view
from views.visits import PlanForm, PlannedVisit, edit_visit_page, nearby_view, plan_page

__all__ = ["TerrainUI", "run"]

WIDE = 720
#: How long the app waits for the device's position before asking the rep to type it.
LOCATE_SECONDS = 10
ASSETS = Path(__file__).resolve().parent.parent / "assets"


class TerrainUI:
    """One browser tab or window of the app, over the device shared by all of them."""

    def __init__(
        self, page: ft.Page, device: Device, background: BackgroundSync, prefs: Preferences, default_server: str | None
    ) -> None:
        self.page = page
        self.device = device
        self.background = background
        self.prefs = prefs
        self.default_server = default_server or prefs.last_server_url or device.engine.state().get("server_url") or ""
        self.t = Translator(prefs.language, prefs.time_zone)
        self.sync_status = ft.Text("", size=12)
        self.sync_bar = ft.ProgressBar(visible=False)
        self.sign_in_again = ft.TextButton(
            self.t("settings.sign_in"), visible=False, on_click=lambda _e: self.go("/login")
        )
        self.search_value = ""
        self.period: tuple[date, date] | None = None
        self.nearby_origin = ""
        self.nearby_radius = 10
        self.start_here = False  # the day's route from where the device is rather than from home
        self._here: tuple[float, float] | None = None  # the device's position, once asked
        # Made here, in the page's own context (a service made later is not registered) and
        # kept (a service nobody holds is dropped). No position handlers: with one, a
        # permission request can hang.
        self._geolocator = Geolocator()
        self._files = ft.FilePicker()  # saves a quote's PDF: a download in a browser, a file elsewhere
        self.tiles = TileCheck()
        page.title = "Terrain"
        page.theme = ft.Theme(color_scheme_seed=ft.Colors.TEAL)
        page.on_route_change = self._on_route_change
        page.on_resize = self._on_resize
        self._last_wide: bool | None = None
        background.listeners.append(self._on_sync_state)

    # -- navigation -------------------------------------------------------------------
    @property
    def wide(self) -> bool:
        return (self.page.width or 0) >= WIDE

    def start(self) -> None:
        signed_in = bool(self.device.engine.state().get("username"))
        route = self.page.route if self.page.route not in ("", "/") else "/accounts"
        if not signed_in:
            route = "/login"
        self._show(route)
        self.background.start(self.page)

    def go(self, route: str) -> None:
        self.page.navigate(route)

    def _on_route_change(self, e: ft.RouteChangeEvent) -> None:
        self._show(e.route)

    def _on_resize(self, _e: Any) -> None:
        if self._last_wide is not None and self._last_wide != self.wide:
            self._show(self.page.route)

    def _show(self, route: str) -> None:
        self._last_wide = self.wide
        if route != "/login" and not self.device.engine.state().get("username"):
            route = "/login"
        if route == "/login":
            view = self._login_view()
        elif route == "/today" or route.startswith("/today/"):
            view = self._shell(route, 0, self._today(route.removeprefix("/today").strip("/")))
        elif route.startswith("/visit/"):
            view = self._shell(route, 0, self._visit_page(route))
        elif route.startswith("/plan/"):
            view = self._shell(route, 0, self._plan(route.removeprefix("/plan/")))
        elif route == "/nearby":
            view = self._shell(route, 0, self._nearby())
        elif route.startswith("/week/"):
            view = self._shell(route, 0, self._week(route.removeprefix("/week/")))
        elif route.startswith("/quote/"):
            view = self._shell(route, 1, self._quote(route.removeprefix("/quote/")))
        elif route == "/pipeline" or route.startswith("/pipeline/"):
            view = self._shell(route, 1, self._pipeline(route.removeprefix("/pipeline").strip("/")))
        elif route.startswith("/accounts/"):
            view = self._shell(route, 1, self._card(route.removeprefix("/accounts/")))
        elif route == "/segments":
            view = self._shell(route, 1, self._segments())
        elif route == "/merges":
            view = self._shell(route, 1, self._merges())
        elif route == "/events" or route.startswith("/event/"):
            # Full screen, no rail: Tab goes down the form and nowhere else.
            view = self._shell(
                route, 1, self._event("" if route == "/events" else route.removeprefix("/event/")), bare=True
            )
        elif route.startswith("/followup/"):
            view = self._shell(route, 1, self._followup(route.removeprefix("/followup/")))
        elif route == "/catalogue":
            view = self._shell(route, 2, self._catalogue())
        elif route == "/dashboard":
            view = self._shell(route, 3, self._dashboard())
        elif route == "/settings":
            view = self._shell(route, 4, self._settings())
        else:
            view = self._shell("/accounts", 1, self._accounts())
        self.page.views.clear()
        self.page.views.append(view)
        self._refresh_sync_status(self.background.snapshot())
        self.page.update()

    def _shell(self, route: str, index: int, body: ft.Control, bare: bool = False) -> ft.View:
        """A screen with the app bar and the navigation (a rail when wide, tabs below on a phone);
        `bare`: with the app bar only (a back arrow to the customers)."""
        t = self.t
        destinations = [
            ("nav.today", ft.Icons.TODAY),
            ("nav.accounts", ft.Icons.STOREFRONT),
            ("nav.catalogue", ft.Icons.INVENTORY_2),
            ("nav.dashboard", ft.Icons.INSIGHTS),
            ("nav.settings", ft.Icons.SETTINGS),
        ]
        routes = ["/today", "/accounts", "/catalogue", "/dashboard", "/settings"]

        def select(e: Any) -> None:
            self.go(routes[int(e.control.selected_index)])

        appbar = ft.AppBar(
            title=ft.Text(t("app.title")),
            actions=[
                ft.Container(self.sync_status, padding=ft.Padding.only(right=8)),
                self.sign_in_again,
                ft.IconButton(
                    ft.Icons.BADGE,
                    tooltip=t("leads.fair_mode"),
                    on_click=lambda _e: self.go(f"/event/{self.prefs.event_id}" if self.prefs.event_id else "/events"),
                ),
                ft.IconButton(ft.Icons.SYNC, tooltip=t("sync.now"), on_click=self._on_sync_click),
            ],
        )
        content = ft.Column([self.sync_bar, body], expand=True)
        self.sign_in_again.content = t("settings.sign_in")
        if bare:
            appbar.leading = ft.IconButton(
                ft.Icons.ARROW_BACK, tooltip=t("card.back"), on_click=lambda _e: self.go(routes[index])
            )
            return ft.View(route=route, appbar=appbar, controls=[content])
        if self.wide:
            rail = ft.NavigationRail(
                selected_index=index,
                label_type=ft.NavigationRailLabelType.ALL,
                destinations=[ft.NavigationRailDestination(icon=icon, label=t(key)) for key, icon in destinations],
                on_change=select,
            )
            return ft.View(
                route=route, appbar=appbar, controls=[ft.Row([rail, ft.VerticalDivider(width=1), content], expand=True)]
            )
        bar = ft.NavigationBar(
            selected_index=index,
            destinations=[ft.NavigationBarDestination(icon=icon, label=t(key)) for key, icon in destinations],
            on_change=select,
        )
        return ft.View(route=route, appbar=appbar, navigation_bar=bar, controls=[content])

    # -- sign-in ----------------------------------------------------------------------
    def _login_view(self) -> ft.View:
        t = self.t
        server = ft.TextField(label=t("login.server"), value=self.default_server, keyboard_type=ft.KeyboardType.URL)
        user = ft.TextField(
            label=t("login.user"), value=self.device.engine.state().get("username") or "", autofocus=True
        )
        password = ft.TextField(label=t("login.password"), password=True, can_reveal_password=True)
        wiped = self.device.engine.state().get("last_error_kind") == "DeviceRevoked"
        message = ft.Text(t("login.wiped") if wiped else "", color=ft.Colors.ERROR)
        working = ft.ProgressRing(visible=False, width=20, height=20)
        # Shown once a plain-http server on another machine was refused: ticking it is the
        # user's explicit choice to send passwords and customers in clear.
        allow_http = ft.Checkbox(label=t("login.allow_http"), value=False, visible=False)

        def show(text: str) -> None:
            message.value = text
            working.visible = False
            button.disabled = False
            self.page.update()

        async def submit(_e: Any) -> None:
            if not (server.value.strip() and user.value.strip() and password.value):
                show(t("login.missing"))
                return
            try:
                url = check_server_url(server.value, allow_plain_http=bool(allow_http.value))
            except PlainHttpServer:
                allow_http.visible = True
                show(t("login.plain_http", url=server.value.strip().rstrip("/")))
                return
            except InvalidServerUrl:
                show(t("login.bad_url", url=server.value.strip()))
                return
            message.value = ""
            working.visible = True
            button.disabled = True
            self.page.update()
            try:
                warning = await asyncio.to_thread(
                    self._sign_in, url, user.value.strip(), password.value, bool(allow_http.value)
                )
            except Throttled as exc:
                show(t("login.throttled", detail=str(exc)))
                return
            except AuthError:
                show(t("login.bad_credentials"))
                return
            except TransportError:
                show(t("login.unreachable", url=url))
                return
            except SyncError as exc:
                show(str(exc))
                return
            show("")
            self.prefs.last_server_url = url
            self.prefs.save(self.device.data_dir)
            self.default_server = url
            if warning:
                self.page.show_dialog(ft.SnackBar(ft.Text(t("login.no_keyring"))))
            self.go("/accounts")
            self.background.sync_now()

        password.on_submit = submit
        button = ft.Button(t("login.submit"), on_click=submit, icon=ft.Icons.LOGIN)
        form = ft.Column(
            [
                ft.Text(t("app.title"), size=32, weight=ft.FontWeight.BOLD),
                ft.Text(t("login.title"), size=18),
                server,
                allow_http,
                user,
                password,
                ft.Row([button, working]),
                message,
                self._language_picker(),
            ],
            width=420,
            spacing=14,
        )
        return ft.View(
            route="/login",
            controls=[ft.Container(form, padding=20, alignment=ft.Alignment.TOP_CENTER, expand=True)],
            scroll=ft.ScrollMode.AUTO,
        )

    def _sign_in(self, url: str, username: str, password: str, allow_plain_http: bool = False) -> str | None:
        self.device.connect(url, allow_plain_http=allow_plain_http)
        try:
            self.device.engine.sign_in(username=username, password=password)
        except NoSecureStore as exc:
            return str(exc)
        return getattr(self.device.engine.token_store, "warning", None)

    # -- sync -------------------------------------------------------------------------
    def _on_sync_click(self, _e: Any) -> None:
        self.background.sync_now()

    def _on_sync_state(self, snapshot: SyncSnapshot) -> None:
        if snapshot.error_kind == "DeviceRevoked" and not snapshot.running and self.page.route != "/login":
            self.go("/login")  # the device wiped itself: the sign-in screen says why
            return
        was_running = self.sync_bar.visible
        self._refresh_sync_status(snapshot)
        if (
            was_running
            and not snapshot.running
            and snapshot.error_kind is None
            and self.page.route in ("/accounts", "/", "")
        ):
            self._show("/accounts")  # the first sync just filled the list
            return
        self.page.update()

    def _refresh_sync_status(self, snapshot: SyncSnapshot) -> None:
        """The indicator in the app bar: synced, syncing, offline or error, then what waits."""
        t = self.t
        self.sync_bar.visible = snapshot.running
        # Determinate once the server said how much comes (a first sync: thousands of records).
        known = snapshot.running and snapshot.total and snapshot.records is not None
        self.sync_bar.value = min(1.0, snapshot.records / snapshot.total) if known else None  # type: ignore[operator]
        self.sign_in_again.visible = snapshot.error_kind == "AuthError" and not snapshot.running
        if snapshot.running:
            if snapshot.records and snapshot.total:
                status = t("sync.progress_of", records=t.number(snapshot.records), total=t.number(snapshot.total))
            elif snapshot.records:
                status = t("sync.progress", records=t.number(snapshot.records))
            else:
                status = t("sync.running")
        elif snapshot.error_kind == "TransportError":
            status = t("sync.offline_short")
        elif snapshot.error_kind == "AuthError":
            status = t("sync.sign_in_again")
        elif snapshot.error_kind == "UpdateRequired":
            status = t("sync.update_required")
        elif snapshot.error:
            status = t("sync.error", error=snapshot.error)
        elif snapshot.last_sync_at:
            status = t("sync.done", when=t.moment(datetime.fromisoformat(snapshot.last_sync_at)))
        else:
            status = t("sync.never")
        extras = []
        if snapshot.pending:
            extras.append(t("sync.pending", count=snapshot.pending))
        if snapshot.rejected:
            extras.append(t("sync.rejected", count=snapshot.rejected))
        if snapshot.conflicts:
            extras.append(t("sync.conflicts", count=snapshot.conflicts))
        self.sync_status.value = " · ".join([status, *extras])

    def _safe_update(self) -> None:
        try:
            self.page.update()
        except RuntimeError:
            pass  # the tab was closed while syncing; the sync itself went on

    # -- customers ----------------------------------------------------------------------
    def _accounts(self) -> ft.Control:
        t = self.t
        results = ft.ListView(expand=True, spacing=0)

        def fill() -> None:
            found = self.device.search(self.search_value)
            products = self.device.search_products(self.search_value) if self.search_value.strip() else []
            results.controls = [
                ft.ListTile(
                    title=ft.Text(a.name),
                    subtitle=ft.Text(" · ".join(p for p in (a.postcode, a.city, t(f"stage.{a.lifecycle_stage}")) if p)),
                    on_click=lambda _e, account_id=a.id: self.go(f"/accounts/{account_id}"),
                )
                for a in found
            ]
            if not found:
                results.controls = [ft.Text(t("accounts.empty") if self.search_value else t("accounts.none_yet"))]
            if products:
                results.controls.append(ft.Text(t("accounts.products"), size=16, weight=ft.FontWeight.BOLD))
                results.controls += [
                    ft.ListTile(
                        title=ft.Text(p.name),
                        subtitle=ft.Text(
                            f"{p.sku} · {p.category} · {t('accounts.in_stock') if p.in_stock else t('accounts.out_of_stock')}"
                        ),
                        trailing=ft.Text(t.money(p.list_price_amount, p.currency)),
                        dense=True,
                    )
                    for p in products
                ]

        def on_change(e: Any) -> None:
            self.search_value = e.control.value or ""
            fill()

        search = ft.TextField(
            label=t("accounts.search"),
            value=self.search_value,
            prefix_icon=ft.Icons.SEARCH,
            on_change=on_change,
            autofocus=self.wide,
        )
        fill()
        pipeline = ft.TextButton(
            t("pipeline.title"), icon=ft.Icons.VIEW_KANBAN, on_click=lambda _e: self.go("/pipeline")
        )
        segments = ft.TextButton(
            t("segments.title"), icon=ft.Icons.FILTER_ALT, on_click=lambda _e: self.go("/segments")
        )
        header = ft.Row([ft.Container(search, expand=True), pipeline, segments])
        if self.device.role() in ("manager", "admin"):
            header.controls.append(
                ft.TextButton(t("merges.open"), icon=ft.Icons.MERGE, on_click=lambda _e: self.go("/merges"))
            )
        return ft.Column([ft.Container(header, padding=ft.Padding.symmetric(horizontal=8)), results], expand=True)

    def _card(self, account_id: str) -> ft.Control:
        card = self.device.card(account_id, today=datetime.now(self.t.zone).date())

        def save_notes(notes: str) -> str | None:
            try:
                self.device.edit_account(account_id, {"notes": notes})
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            return None

        today = datetime.now(self.t.zone).date()
        return card_view(
            card,
            self.t,
            on_back=lambda _e: self.go("/accounts"),
            on_save_notes=save_notes,
            on_plan_visit=lambda: self.go(f"/plan/{today.isoformat()}/{account_id}"),
            on_new_quote=lambda: self.go(f"/quote/new/{account_id}"),
            load_audit=(lambda: self._audit(account_id)) if self.device.role() in ("manager", "admin") else None,
            platform=self.page.platform.value if self.page.platform else "",
        )

    async def _audit(self, account_id: str) -> list[dict[str, Any]] | str:
        try:
            return await asyncio.to_thread(self.device.audit, account_id)
        except SyncError as exc:
            return self.t("audit.offline", error=str(exc))

    # -- trade fairs ----------------------------------------------------------------------
    def _event(self, event_id: str) -> ft.Control:
        """/events: the events and a new one; /event/ID: the quick lead form at that event."""
        t = self.t
        today = datetime.now(t.zone).date()
        event = self.device.event(event_id) if event_id else None
        if event is None:

            def open_one(chosen: str) -> None:
                self.prefs.event_id = chosen
                self.prefs.save(self.device.data_dir)
                self.go(f"/event/{chosen}")

            def create(name: str, place: str, first: str, last: str) -> str | None:
                try:
                    starts = date.fromisoformat(first) if first.strip() else None
                    ends = date.fromisoformat(last) if last.strip() else starts
                    if not name.strip() or (starts and ends and ends < starts):
                        raise ValueError
                    made = self.device.open_event(name, place, starts, ends)
                except (ValueError, InvalidEdit):
                    return t("leads.bad_event")
                self.background.wrote_locally()
                open_one(made)
                return None

            return events_page(
                t, self.device.events(today), self.prefs.event_id, today, open_one, create, self.page.run_task
            )

        def save(entry: LeadEntry) -> str | None:
            try:
                self.device.capture_lead(
                    event.id,
                    entry.draft,
                    zone=t.zone,
                    follow_up_reason=t("leads.reminder", name="{name}", event="{event}"),
                    company_id=entry.company_id,
                    temperature=entry.temperature,
                    product_ids=entry.product_ids,
                    next_step=entry.next_step,
                    language=entry.language,
                    attach_to=entry.attach_to,
                )
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            return None

        form = LeadForm(
            t,
            duplicates=self.device.duplicates,
            search_products=lambda text: self.device.search_products(text, limit=5),
            save=save,
        )

        async def pick() -> bytes | None:
            picked = await self._files.pick_files(
                dialog_title=t("leads.badges_pick"),
                file_type=ft.FilePickerFileType.CUSTOM,
                allowed_extensions=["csv", "txt"],
                with_data=True,
            )
            return picked[0].bytes if picked else None

        badges = BadgeImporter(
            t,
            pick=pick,
            columns=lambda data: self.device.badge_columns(event.id, data),
            run=lambda data, mapping: self._import_badges(event.id, data, mapping),
            fill=form.fill,
        )
        self.page.run_task(form.focus_first)
        return event_page(
            t,
            event,
            lambda: self.device.event_leads(event.id),
            form,
            on_change_event=lambda: self.go("/events"),
            on_follow_up=lambda: self.go(f"/followup/event/{event.id}"),
            on_open_lead=lambda account_id: self.go(f"/accounts/{account_id}"),
            badges=badges,
        )

    def _import_badges(
        self, event_id: str, data: bytes, mapping: dict[str, str]
    ) -> tuple[BadgeReport, list[tuple[int, str]]]:
        t = self.t
        found = self.device.import_badges(
            event_id,
            data,
            mapping,
            zone=t.zone,
            follow_up_reason=t("leads.reminder", name="{name}", event="{event}"),
        )
        if found[0].saved or found[0].attached:
            self.background.wrote_locally()
        return found

    # -- pipeline -------------------------------------------------------------------------
    def _followup(self, rest: str) -> ft.Control:
        """/followup/event/ID: the people met at an event not yet e-mailed; /followup/segment/ID:
        a saved segment's accounts (each one's main contact with an e-mail)."""
        t = self.t
        kind, _slash, record_id = rest.partition("/")
        today = datetime.now(t.zone).date()
        try:
            if kind == "event":
                drafts = self.device.event_followups(record_id)
                back = f"/event/{record_id}"
            else:
                drafts = self.device.audience_followups(self.device.segment_members(record_id, today))
                back = "/segments"
        except (LookupError, ValueError) as exc:
            return ft.Column([ft.Text(str(exc) or t("card.not_found"))])

        def send(chosen: list[Draft]) -> str | None:
            try:
                self.device.send_followups(chosen)
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            return None

        return followup_page(t, drafts, send, lambda: self.go(back))

    def _pipeline(self, mode: str) -> ft.Control:
        """/pipeline: the accounts' board; /pipeline/opportunities: the opportunities'."""
        mode = "opportunities" if mode == "opportunities" else "accounts"

        def move(kind: str, record_id: str, stage: str, reason: str | None, competitor: str | None) -> str | None:
            mover = self.device.move_account if kind == "account" else self.device.move_opportunity
            try:
                mover(record_id, stage, reason, competitor)
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            return None

        return pipeline_view(
            self.t,
            mode=mode,
            load_accounts=lambda: self.device.account_board(datetime.now(self.t.zone).date()),
            load_opportunities=self.device.opportunity_board,
            on_mode=lambda chosen: self.go("/pipeline/opportunities" if chosen == "opportunities" else "/pipeline"),
            on_open=lambda account_id: self.go(f"/accounts/{account_id}"),
            on_move=move,
            show_dialog=self.page.show_dialog,
            close_dialog=self.page.pop_dialog,
        )

    # -- a manager's duplicates ----------------------------------------------------------
    def _merges(self) -> ft.Control:
        t = self.t
        try:
            proposals: list[dict[str, Any]] | str = self.device.merge_proposals()
        except SyncError as exc:
            proposals = str(exc)

        def decide(proposal_id: str, action: str, keep: str | None) -> str | None:
            try:
                self.device.decide_merge(proposal_id, action, keep)
            except SyncError as exc:
                return str(exc)
            self._show("/merges")
            if action == "merge":
                self._told(t("merges.done"))
            self.background.wrote_locally()  # a sync soon brings the merged account
            return None

        return merges_view(t, proposals, decide, lambda: self.go("/accounts"))

    # -- segments -------------------------------------------------------------------------
    def _segments(self) -> ft.Control:
        """The rep's saved filters over the book; writing to one opens its follow-up e-mail."""
        today = datetime.now(self.t.zone).date()
        return segments_view(
            self.t,
            segments=lambda: self.device.segments(today),
            preview=lambda f: self.device.preview_segment(f, today),
            save=self.device.save_segment,
            delete=self.device.delete_segment,
            search_products=lambda text: self.device.search_products(text, limit=6),
            products=self.device.products,
            events=[(e.id, e.name) for e in self.device.events(today)],
            on_write=lambda segment_id: self.go(f"/followup/segment/{segment_id}"),
            told=self._told,
        )

    # -- catalogue ------------------------------------------------------------------------
    def _catalogue(self) -> ft.Control:
        last = self.background.snapshot().last_sync_at
        synced = self.t.moment(datetime.fromisoformat(last)) if last else self.t("sync.never")
        return catalogue_view(
            self.t,
            categories=self.device.product_categories(),
            browse=lambda query, category: self.device.catalogue(query, category),
            synced=synced,
        )

    # -- quotes ---------------------------------------------------------------------------
    def _quote(self, rest: str) -> ft.Control:
        """/quote/new/ACCOUNT, /quote/ID or /quote/ID/sign."""
        t = self.t
        if rest.startswith("new/"):
            account_id = rest.removeprefix("new/")
            account_name = self.device.account_name(account_id)
            if account_name is None:
                return ft.Column([ft.Text(t("card.not_found"))])
            form = QuoteForm(
                t,
                search=lambda text: self.device.search_products(text, limit=6),
                price=lambda lines, discount: self.device.price_quote(
                    account_id, lines, discount, day=datetime.now(t.zone).date()
                ),
            )

            def save() -> None:
                try:
                    lines, discount = form.read()
                    if not lines:
                        raise ValueError(t("quote.empty"))
                    quote_id = self.device.create_quote(
                        account_id, lines, discount, valid_until=None, issued_on=datetime.now(t.zone).date()
                    )
                except (ValueError, InvalidEdit) as exc:
                    form.error.value = str(exc)
                    return
                self.background.wrote_locally()
                self.go(f"/quote/{quote_id}")
                self._told(t("quote.saved"))

            return quote_form_page(t, account_name, form, save, lambda: self.go(f"/accounts/{account_id}"))
        quote_id, _slash, action = rest.partition("/")
        found = self.device.quote(quote_id)
        if found is None:
            return ft.Column([ft.Text(t("card.not_found"))])
        quote, lines = found
        account_name = self.device.account_name(quote.account_id) or quote.account_id

        def status(new: str, signer: str | None = None, svg: str | None = None) -> str | None:
            try:
                self.device.set_quote_status(quote.id, new, signed_by=signer, signature_svg=svg)
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            self.go(f"/quote/{quote.id}")
            return None

        if action == "sign":

            def accept(signer: str, svg: str) -> str | None:
                problem = status("accepted", signer, svg)
                if problem is None:
                    self._told(t("quote.accepted"))
                return problem

            return sign_page(t, quote, accept, lambda: self.go(f"/quote/{quote.id}"))

        def send() -> None:
            problem = status("sent")
            if problem:
                self._told(problem)

        async def pdf() -> None:
            """On a phone, the share sheet (mail, messages...); elsewhere, a download or a file."""
            name = f"{quote.legal_number or quote.provisional_number}.pdf"
            try:
                content = await asyncio.to_thread(self.device.quote_pdf, quote.id, t)
                if self.page.platform is not None and self.page.platform.is_mobile() and not self.page.web:
                    await ft.Share().share_files([ft.ShareFile(data=content, name=name, mime_type="application/pdf")])
                else:
                    await self._files.save_file(file_name=name, src_bytes=content)
            except Exception as exc:  # noqa: BLE001 - whatever failed, the rep is told, the screen stays
                self._told(t("quote.pdf_failed", reason=str(exc) or type(exc).__name__))
                self._safe_update()

        def order() -> None:
            try:
                self.device.order_from_quote(quote.id)
            except InvalidEdit as exc:
                self._told(str(exc))
                return
            self.background.wrote_locally()
            self._told(t("quote.ordered"))

        return quote_page(
            t,
            quote,
            lines,
            account_name,
            on_pdf=pdf,
            on_order=order,
            on_send=send,
            on_sign=lambda: self.go(f"/quote/{quote.id}/sign"),
            on_back=lambda: self.go(f"/accounts/{quote.account_id}"),
        )

    # -- today and the week ---------------------------------------------------------------
    def _day_of(self, text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return datetime.now(self.t.zone).date()

    def _today(self, day_text: str) -> ft.Control:
        t = self.t
        day = self._day_of(day_text)
        now = datetime.now(UTC)
        self.device.language = t.language
        home = self.prefs.home_position()
        # From where the device is, the round ends at home (when known); from home, back there.
        start, end = (self._here, home) if self.start_here and self._here else (home, None)
        route = self.device.route(day, t.zone, start=start, end=end)
        today = now.astimezone(t.zone).date()
        reminders = self.device.reminders_due(now, t.zone) if day == today else self.device.reminders_on(day, t.zone)

        def again() -> None:
            self.background.wrote_locally()
            self._show(self.page.route)

        def on_check_in(visit: AgendaVisit) -> None:
            self.go(f"/visit/{visit.id}/check-in/{day.isoformat()}")

        def on_report(visit: AgendaVisit) -> None:
            self.go(f"/visit/{visit.id}/report/{day.isoformat()}")

        def on_change(visit: AgendaVisit) -> None:
            self.go(f"/visit/{visit.id}/edit/{day.isoformat()}")

        async def start_from(here: bool) -> str | None:
            """From where the device is (asked now) or from home; why not, if it cannot tell."""
            if here:
                answer = await self._position()
                if isinstance(answer, str):
                    return t("today.no_position_route", reason=answer)
                self._here = answer
            self.start_here = here
            self._show(self.page.route)
            return None

        def on_done(reminder: DueReminder) -> None:
            self.device.reminder_done(reminder.id, datetime.now(UTC))
            again()

        def on_snooze(reminder: DueReminder) -> None:
            self.device.snooze_reminder(reminder.id, datetime.now(UTC) + timedelta(days=1))
            again()

        return today_view(
            t,
            day=day,
            route=route,
            reminders=reminders,
            on_day=lambda d: self.go(f"/today/{d.isoformat()}"),
            on_week=lambda: self.go(f"/week/{day.isoformat()}"),
            on_check_in=on_check_in,
            on_report=on_report,
            on_change=on_change,
            on_done=on_done,
            on_snooze=on_snooze,
            on_open_account=lambda account_id: self.go(f"/accounts/{account_id}"),
            on_plan=lambda: self.go(f"/plan/{day.isoformat()}"),
            on_nearby=lambda: self.go("/nearby"),
            map_slot=self._route_map(route, start, end),
            start_here=self.start_here,
            on_start=start_from,
        )

    def _visit_page(self, route: str) -> ft.Control:
        """/visit/ID/check-in/DAY or /visit/ID/report/DAY: a page of its own, then back to the day."""
        t = self.t
        _empty, _visit, visit_id, action, day_text = (route.split("/") + [""] * 5)[:5]
        day = self._day_of(day_text)
        visit = self.device.visit(visit_id)

        def back() -> None:
            self.go(f"/today/{day.isoformat()}")

        if visit is None:
            return ft.Column([ft.Text(t("card.not_found"))])
        if action == "edit":
            return self._edit_visit(visit, day)
        if action == "check-in":

            def confirm(lat: float | None, lon: float | None) -> None:
                try:
                    done = self.device.check_in(visit.id, datetime.now(UTC), lat, lon)
                except InvalidEdit as exc:
                    self.page.show_dialog(ft.SnackBar(ft.Text(str(exc))))
                    return
                self.background.wrote_locally()
                message = (
                    t("today.too_far", metres=f"{done.distance_m:.0f}")
                    if done.too_far and done.distance_m is not None
                    else t("today.checked_in")
                )
                back()
                self.page.show_dialog(ft.SnackBar(ft.Text(message)))

            return check_in_page(t, visit, confirm, back, locate=self._position)
        form = ReportForm(
            t,
            day,
            contacts=self.device.contacts_of(visit.account_id),
            contact_id=visit.contact_id,
            search_products=lambda text: self.device.search_products(text, limit=6),
        )

        def save() -> None:
            try:
                follow_up = form.follow_up_day()
            except ValueError:
                form.error.value = t("today.bad_follow_up")
                return
            try:
                self.device.write_report(
                    visit.id,
                    notes=form.notes.value or "",
                    outcome=form.outcome.value,
                    next_steps=form.next_steps.value,
                    follow_up_on=follow_up,
                    zone=t.zone,
                    follow_up_reason=t(
                        "today.follow_up_reason", next_steps=form.next_steps.value or visit.account_name
                    ),
                    met_contact_id=form.met.value or None,
                    products_presented=list(form.products.chosen),
                )
            except InvalidEdit as exc:
                form.error.value = str(exc)
                return
            self.background.wrote_locally()
            back()

        return report_page(t, visit, form, save, back)

    def _told(self, text: str) -> None:
        self.page.show_dialog(ft.SnackBar(ft.Text(text)))

    def _edit_visit(self, visit: AgendaVisit, day: date) -> ft.Control:
        t = self.t

        def move(starts_at: datetime) -> str | None:
            try:
                self.device.move_visit(visit.id, starts_at)
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            self.go(f"/today/{starts_at.date().isoformat()}")
            self._told(t("plan.moved", day=t.day(starts_at.date()), time=t.clock(starts_at)))
            return None

        def cancel() -> str | None:
            try:
                self.device.cancel_visit(visit.id)
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            self.go(f"/today/{day.isoformat()}")
            self._told(t("plan.cancelled"))
            return None

        return edit_visit_page(t, visit, move, cancel, lambda: self.go(f"/today/{day.isoformat()}"))

    def _plan(self, rest: str) -> ft.Control:
        """/plan/DAY (pick the customer) or /plan/DAY/ACCOUNT (from a card)."""
        t = self.t
        day_text, _slash, account_id = rest.partition("/")
        day = self._day_of(day_text)
        name = self.device.account_name(account_id) if account_id else None
        account = (account_id, name) if name is not None else None
        form = PlanForm(t, day=day, account=account, contacts_of=self.device.contacts_of, search=self.device.search)

        def save(planned: PlannedVisit) -> str | None:
            try:
                self.device.plan_visit(
                    planned.account_id,
                    planned.starts_at,
                    planned.minutes,
                    planned.purpose,
                    planned.fixed_time,
                    contact_id=planned.contact_id,
                )
            except InvalidEdit as exc:
                return str(exc)
            self.background.wrote_locally()
            self.go(f"/today/{planned.starts_at.date().isoformat()}")
            self._told(t("plan.planned", day=t.day(planned.starts_at.date()), time=t.clock(planned.starts_at)))
            return None

        back = f"/accounts/{account_id}" if account else f"/today/{day.isoformat()}"
        return plan_page(t, form, save, lambda: self.go(back))

    def _route_map(
        self, route: DayRoute, start: tuple[float, float] | None, end: tuple[float, float] | None
    ) -> ft.Control | None:
        """A slot for the route's map: filled at once when the tiles answered lately, after a
        check in the background when unknown; none when they did not answer (the list stays)."""
        url = self.prefs.tile_url
        if not url or not route.stops or self.tiles.known(url) is False:
            return None
        slot = ft.Container()
        if self.tiles.known(url):
            slot.content = route_map(self.t, route, start, url, end)
            return slot

        async def probe() -> None:
            if await asyncio.to_thread(self.tiles.check, url):
                slot.content = route_map(self.t, route, start, url, end)
                try:
                    slot.update()
                except RuntimeError:
                    pass  # the rep left the day meanwhile

        self.page.run_task(probe)
        return slot

    async def _position(self) -> tuple[float, float] | str:
        """Where the device is (flet-geolocator), or why it cannot tell (no permission, no
        location service, no answer in time): the rep then types a position or picks another
        place."""
        try:
            status = await asyncio.wait_for(self._geolocator.get_permission_status(), LOCATE_SECONDS)
            if status == GeolocatorPermissionStatus.DENIED:
                status = await asyncio.wait_for(self._geolocator.request_permission(), 60)
            if status in (GeolocatorPermissionStatus.DENIED, GeolocatorPermissionStatus.DENIED_FOREVER):
                return self.t("today.no_permission")
            found = await asyncio.wait_for(
                self._geolocator.get_current_position(
                    GeolocatorConfiguration(time_limit=ft.Duration(seconds=LOCATE_SECONDS))
                ),
                LOCATE_SECONDS + 5,
            )
        except TimeoutError:
            return self.t("today.locate_timeout")
        except (RuntimeError, ft.FletUnsupportedPlatformException) as exc:  # what the platform said
            return str(exc) or type(exc).__name__
        if found.latitude is None or found.longitude is None:
            return self.t("today.locate_timeout")
        return float(found.latitude), float(found.longitude)

    def _nearby(self) -> ft.Control:
        t = self.t
        today = datetime.now(t.zone).date()
        home = self.prefs.home_position()
        visits = [v for v in self.device.day(today, t.zone) if v.lat is not None and v.lon is not None]
        places: dict[str, tuple[float, float] | None] = {"here": self._here}
        origins = [("here", t("nearby.here"))]
        if home is not None:
            places["home"] = home
            origins.append(("home", t("nearby.home")))
        for v in visits:
            places[f"visit:{v.id}"] = (v.lat, v.lon)  # type: ignore[assignment]
            origins.append((f"visit:{v.id}", t("nearby.visit", time=t.clock(v.starts_at), account=v.account_name)))
        if self.nearby_origin not in places:
            self.nearby_origin = "home" if home is not None else origins[-1][0]
        holder = ft.Container(expand=True)

        def draw(message: str = "") -> None:
            position = places.get(self.nearby_origin)
            found = None
            if position is not None:
                found = self.device.nearby(*position, radius_km=self.nearby_radius, today=today)
                message = message or ("" if found else t("nearby.none"))
            holder.content = nearby_view(
                t,
                origins=origins,
                origin=self.nearby_origin,
                radius_km=self.nearby_radius,
                accounts=found,
                message=message or ("" if position else t("nearby.pick")),
                on_origin=pick,
                on_radius=widen,
                on_open=lambda a: self.go(f"/accounts/{a}"),
                on_plan=lambda a: self.go(f"/plan/{today.isoformat()}/{a}"),
            )

        async def locate() -> None:
            answer = await self._position()
            if isinstance(answer, str):
                draw(t("today.no_position", reason=answer))
            else:
                self._here = places["here"] = answer
                draw()
            self._safe_update()

        def pick(key: str) -> None:
            self.nearby_origin = key
            if key == "here" and places["here"] is None:
                draw(t("today.locating"))
                self.page.run_task(locate)
                return
            draw()

        def widen(radius: int) -> None:
            self.nearby_radius = radius
            draw()

        pick(self.nearby_origin)
        return holder

    def _week(self, day_text: str) -> ft.Control:
        day = self._day_of(day_text)
        return week_view(
            self.t,
            day=day,
            visits=self.device.week(day, self.t.zone),
            on_day=lambda d: self.go(f"/today/{d.isoformat()}"),
        )

    # -- dashboard ----------------------------------------------------------------------
    def _dashboard(self) -> ft.Control:
        t = self.t
        today = datetime.now(t.zone).date()
        title = t("dash.team") if self.device.role() in ("manager", "admin") else t("dash.title")
        holder = ft.Container(expand=True)
        shown: dict[str, Any] = {}

        def draw(first: date, last: date, error: str | None = None) -> None:
            if not error:
                shown.update(self.device.figures(first, last))
            holder.content = dashboard_view(
                shown or None,
                t,
                start=first,
                end=last,
                title=title,
                error=error,
                on_period=ask,
            )

        def ask(first_text: str, last_text: str) -> None:
            first, last = self.period or (date(today.year, 1, 1), today)
            try:
                asked = date.fromisoformat(first_text.strip()), date.fromisoformat(last_text.strip())
            except ValueError:
                draw(first, last, t("dash.bad_period"))  # the figures shown stay, with what to fix
                return
            if asked[1] < asked[0]:
                draw(first, last, t("dash.ends_before"))
                return
            self.period = asked
            draw(*asked)

        draw(*(self.period or (date(today.year, 1, 1), today)))
        return holder

    # -- settings -----------------------------------------------------------------------
    def _language_picker(self) -> ft.Control:
        def on_change(e: Any) -> None:
            self.prefs.language = e.control.value
            self.prefs.save(self.device.data_dir)
            self.t = Translator(self.prefs.language, self.prefs.time_zone)
            self._show(self.page.route or "/accounts")

        return ft.Column(
            [
                ft.Text(self.t("settings.language")),
                ft.RadioGroup(
                    content=ft.Row([ft.Radio(value=code, label=name) for code, name in LANGUAGES.items()]),
                    value=self.t.language,
                    on_change=on_change,
                ),
            ],
            spacing=4,
        )

    def _home_editor(self) -> ft.Control:
        """Where the day's route starts and ends."""
        t = self.t
        field = ft.TextField(label=t("settings.home"), value=self.prefs.home, width=320, dense=True)
        message = ft.Text("")

        def save(_e: Any) -> None:
            text = (field.value or "").strip()
            probe = Preferences(home=text)
            if text and probe.home_position() is None:
                message.value, message.color = t("settings.bad_home"), ft.Colors.ERROR
                return
            self.prefs.home = text
            self.prefs.save(self.device.data_dir)
            message.value, message.color = t("card.saved"), None

        field.on_submit = save
        return ft.Row([field, ft.TextButton(t("settings.save"), on_click=save), message], wrap=True)

    def _settings(self) -> ft.Control:
        t = self.t
        state = self.device.engine.state()

        async def sign_out(_e: Any) -> None:
            await asyncio.to_thread(self.device.engine.sign_out)
            self.go("/login")

        return ft.ListView(
            [
                ft.Text(t("settings.user", user=state.get("full_name") or state.get("username") or "—"), size=16),
                ft.Text(t("settings.server", url=state.get("server_url") or "—")),
                self._language_picker(),
                self._home_editor(),
                encryption_switch(self.page, t, self.device.data_dir, self.prefs),
                ft.Row(
                    [
                        ft.Button(t("sync.now"), icon=ft.Icons.SYNC, on_click=self._on_sync_click),
                        ft.OutlinedButton(t("settings.sign_out"), icon=ft.Icons.LOGOUT, on_click=sign_out),
                        ft.TextButton(
                            t("settings.wipe"), icon=ft.Icons.DELETE_FOREVER, on_click=lambda _e: self._ask_wipe()
                        ),
                    ],
                    wrap=True,
                ),
                *self._sync_inbox(),
            ],
            spacing=16,
            expand=True,
        )

    def _ask_wipe(self) -> None:
        """Confirm, then erase this device's data and session (the server keeps what was synced)."""
        t = self.t
        pending = self.device.pending()["pending"]
        lines: list[ft.Control] = [ft.Text(t("settings.wipe_text"))]
        if pending:
            lines.append(ft.Text(t("settings.wipe_pending", count=pending), color=ft.Colors.ERROR))

        async def wipe(_e: Any) -> None:
            self.page.pop_dialog()
            await asyncio.to_thread(self.device.engine.wipe)
            self.go("/login")

        self.page.show_dialog(
            ft.AlertDialog(
                title=ft.Text(t("settings.wipe_title")),
                content=ft.Column(lines, tight=True, width=420),
                actions=[
                    ft.TextButton(t("settings.cancel"), on_click=lambda _e: self.page.pop_dialog()),
                    ft.FilledButton(t("settings.wipe_confirm"), icon=ft.Icons.DELETE_FOREVER, on_click=wipe),
                ],
            )
        )

    def _sync_inbox(self) -> list[ft.Control]:
        """Conflicts to settle (both values, pick one) and changes the server refused (with why)."""
        t = self.t
        changes = self.device.pending()
        controls: list[ft.Control] = []

        def settle(conflict_id: int, keep: str) -> None:
            self.device.resolve_conflict(conflict_id, keep)
            self.background.wrote_locally()
            self._show("/settings")

        if changes["conflicts"]:
            controls.append(ft.Text(t("inbox.conflicts"), size=16, weight=ft.FontWeight.BOLD))
        for conflict in changes["conflicts"]:
            controls.append(
                ft.Card(
                    content=ft.Container(
                        ft.Column(
                            [
                                ft.Text(
                                    t("inbox.field", entity=t(f"entity.{conflict['entity']}"), field=conflict["field"])
                                ),
                                ft.Text(t("inbox.server_value", value=conflict["server_value"])),
                                ft.Text(t("inbox.device_value", value=conflict["device_value"])),
                                ft.Row(
                                    [
                                        ft.OutlinedButton(
                                            t("inbox.keep_server"),
                                            on_click=lambda _e, c=conflict["id"]: settle(c, "server"),
                                        ),
                                        ft.Button(
                                            t("inbox.keep_mine"),
                                            on_click=lambda _e, c=conflict["id"]: settle(c, "device"),
                                        ),
                                    ]
                                ),
                            ]
                        ),
                        padding=12,
                    )
                )
            )
        if changes["rejected"]:
            controls.append(ft.Text(t("inbox.rejected"), size=16, weight=ft.FontWeight.BOLD))

        def act(action: Callable[[int], None], mid: int) -> None:
            try:
                action(mid)
            except InvalidEdit as exc:
                self.page.show_dialog(ft.SnackBar(ft.Text(str(exc))))
                return
            self.background.wrote_locally()
            self._show("/settings")

        for rejected in changes["rejected"]:
            controls.append(
                ft.Card(
                    content=ft.Container(
                        ft.Column(
                            [
                                ft.Text(
                                    t(
                                        "inbox.rejected_line",
                                        entity=t(f"entity.{rejected['entity']}"),
                                        reason=rejected["reason"],
                                    )
                                ),
                                ft.Text(t("inbox.device_value", value=_fields_text(rejected["fields"]))),
                                ft.Row(
                                    [
                                        ft.OutlinedButton(
                                            t("inbox.dismiss"),
                                            on_click=lambda _e, m=rejected["mid"]: act(self.device.dismiss_rejected, m),
                                        ),
                                        ft.Button(
                                            t("inbox.resend"),
                                            on_click=lambda _e, m=rejected["mid"]: act(self.device.resend_rejected, m),
                                        ),
                                    ]
                                ),
                            ]
                        ),
                        padding=12,
                    )
                )
            )
        return controls


def _fields_text(fields: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {value}" for name, value in fields.items()) or "—"


def run(*, data_dir: Path, host: str = "127.0.0.1", port: int = 8550, server_url: str | None = None) -> None:
    """Open the app: a desktop window where one can be shown, otherwise the web view on `host`."""
    device = open_device(data_dir)
    prefs = Preferences.load(data_dir)

    background = BackgroundSync(device, geocoder_url=prefs.geocoder_url or None)

    async def main(page: ft.Page) -> None:
        if wants_flet_store(page) and not isinstance(device.engine.token_store, FletSecureStore):
            # A phone: the session lives in its Keychain or Keystore, read once before any sync.
            store = FletSecureStore(page)
            await store.prime()
            device.engine.token_store = store
        TerrainUI(page, device, background, prefs, server_url).start()

    desktop = os.environ.get("TERRAIN_VIEW") == "desktop" or (
        os.environ.get("TERRAIN_VIEW") != "web" and sys.platform != "linux" or os.environ.get("DISPLAY")
    )
    view = ft.AppView.FLET_APP if desktop and os.environ.get("TERRAIN_VIEW") != "web" else ft.AppView.WEB_BROWSER
    if view == ft.AppView.WEB_BROWSER:
        print(f"Terrain app: http://{host}:{port}/", flush=True)  # noqa: T201
    try:
        ft.run(main, view=view, host=host, port=port, no_cdn=True, assets_dir=str(ASSETS))
    finally:
        device.close()
