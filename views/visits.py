"""Planning a visit (from a card or the agenda), moving or cancelling one, and Nearby: the
accounts around the rep or a visit, the most worth a stop first.

Pages rather than dialogs: a phone shows them whole, Back leaves them. The forms read and check
what the rep typed (`PlanForm.read`) so that a plain test can drive them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import flet as ft

from app.agenda import AgendaVisit
from app.card import AccountSummary
from app.i18n import Translator
from app.nearby import NearbyAccount

__all__ = [
    "LENGTHS",
    "RADII_KM",
    "PlanForm",
    "PlannedVisit",
    "edit_visit_page",
    "nearby_view",
    "plan_page",
    "read_day_time",
]

#: The lengths a visit can be planned for, in minutes.
LENGTHS = (30, 45, 60, 90, 120)
#: The distances Nearby offers, in km.
RADII_KM = (2, 5, 10, 25, 50)


def read_day_time(t: Translator, day_text: str | None, time_text: str | None) -> datetime:
    """A day (2026-12-03) and a time (9:30, 09h30) typed by the rep, in their time zone.
    ValueError with what to fix."""
    try:
        day = date.fromisoformat((day_text or "").strip())
    except ValueError:
        raise ValueError(t("plan.bad_day")) from None
    text = (time_text or "").strip().lower().replace("h", ":").replace(".", ":")
    if text.endswith(":"):
        text += "00"
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        at = time(hours, minutes)
    except ValueError:
        raise ValueError(t("plan.bad_time")) from None
    return datetime.combine(day, at, tzinfo=t.zone)


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    account_id: str
    contact_id: str | None
    starts_at: datetime
    minutes: int
    purpose: str | None
    fixed_time: bool


class PlanForm:
    """Who, when, how long and why; the account is given (from a card) or picked by name."""

    def __init__(
        self,
        t: Translator,
        *,
        day: date,
        account: tuple[str, str] | None,
        contacts_of: Callable[[str], list[tuple[str, str]]],
        search: Callable[[str], list[AccountSummary]],
    ) -> None:
        self.t = t
        self.contacts_of = contacts_of
        self.search = search
        self.account_id: str | None = None
        self.account_name = ft.Text("", weight=ft.FontWeight.BOLD)
        self.query = ft.TextField(label=t("plan.find_account"), prefix_icon=ft.Icons.SEARCH, on_change=self._find)
        self.found = ft.Column(spacing=0)
        self.contact = ft.Dropdown(label=t("plan.contact"), options=[], width=320)
        self.day = ft.TextField(label=t("plan.day"), value=day.isoformat(), width=160, dense=True)
        self.time = ft.TextField(label=t("plan.time"), value="09:00", width=110, dense=True)
        self.length = ft.Dropdown(
            label=t("plan.length"),
            options=[ft.DropdownOption(key=str(m), text=t("plan.minutes", minutes=m)) for m in LENGTHS],
            value="60",
            width=150,
        )
        self.purpose = ft.TextField(label=t("plan.purpose"), max_length=500)
        self.fixed = ft.Checkbox(label=t("plan.fixed"), value=False)
        self.error = ft.Text("", color=ft.Colors.ERROR)
        if account is not None:
            self.choose(*account)

    def choose(self, account_id: str, name: str) -> None:
        self.account_id = account_id
        self.account_name.value = name
        self.query.value = ""
        self.found.controls = []
        contacts = self.contacts_of(account_id)
        self.contact.options = [ft.DropdownOption(key=cid, text=label) for cid, label in contacts]
        self.contact.value = contacts[0][0] if contacts else None

    def _find(self, e: Any) -> None:
        text = (e.control.value or "").strip()
        matches = self.search(text)[:8] if text else []
        self.found.controls = [
            ft.ListTile(
                title=ft.Text(a.name),
                subtitle=ft.Text(" · ".join(p for p in (a.postcode, a.city) if p)),
                dense=True,
                on_click=lambda _e, a=a: self.choose(a.id, a.name),
            )
            for a in matches
        ]

    def read(self) -> PlannedVisit:
        """What the rep asked for; ValueError with what to fix."""
        if self.account_id is None:
            raise ValueError(self.t("plan.no_account"))
        starts_at = read_day_time(self.t, self.day.value, self.time.value)
        purpose = (self.purpose.value or "").strip() or None
        return PlannedVisit(
            self.account_id,
            self.contact.value or None,
            starts_at,
            int(self.length.value or 60),
            purpose,
            bool(self.fixed.value),
        )

    def controls(self) -> list[ft.Control]:
        return [
            self.account_name,
            self.query,
            self.found,
            self.contact,
            ft.Row([self.day, self.time, self.length], wrap=True),
            self.purpose,
            self.fixed,
            self.error,
        ]


def plan_page(
    t: Translator, form: PlanForm, on_save: Callable[[PlannedVisit], str | None], on_back: Callable[[], None]
) -> ft.Control:
    """`on_save` returns what went wrong, or None once the visit is planned."""

    def save(_e: Any) -> None:
        try:
            planned = form.read()
        except ValueError as exc:
            form.error.value = str(exc)
            return
        form.error.value = on_save(planned) or ""

    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("plan.title"), size=20, weight=ft.FontWeight.BOLD),
            *form.controls(),
            ft.Row([ft.Button(t("plan.save"), icon=ft.Icons.EVENT, on_click=save)]),
        ],
        expand=True,
        spacing=12,
        padding=12,
    )


def edit_visit_page(
    t: Translator,
    visit: AgendaVisit,
    on_move: Callable[[datetime], str | None],
    on_cancel: Callable[[], str | None],
    on_back: Callable[[], None],
) -> ft.Control:
    """Another day or time for a planned visit, or its cancellation (asked twice)."""
    local = visit.starts_at.astimezone(t.zone)
    day = ft.TextField(label=t("plan.day"), value=local.date().isoformat(), width=160, dense=True)
    at = ft.TextField(label=t("plan.time"), value=local.strftime("%H:%M"), width=110, dense=True)
    error = ft.Text("", color=ft.Colors.ERROR)
    sure = ft.Button(
        t("plan.confirm_cancel"),
        icon=ft.Icons.EVENT_BUSY,
        visible=False,
        style=ft.ButtonStyle(bgcolor=ft.Colors.ERROR, color=ft.Colors.ON_ERROR),
        on_click=lambda _e: setattr(error, "value", on_cancel() or ""),
    )

    def move(_e: Any) -> None:
        try:
            starts_at = read_day_time(t, day.value, at.value)
        except ValueError as exc:
            error.value = str(exc)
            return
        error.value = on_move(starts_at) or ""

    details = " · ".join(
        p for p in (visit.purpose, visit.contact_name, t.day(local.date()), t.clock(visit.starts_at)) if p
    )
    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("plan.edit_title", account=visit.account_name), size=20, weight=ft.FontWeight.BOLD),
            ft.Text(details),
            ft.Row([day, at], wrap=True),
            ft.Row([ft.Button(t("plan.move"), icon=ft.Icons.SCHEDULE, on_click=move)]),
            ft.Divider(),
            ft.Row(
                [
                    ft.OutlinedButton(
                        t("plan.cancel_visit"),
                        icon=ft.Icons.CANCEL,
                        on_click=lambda _e: setattr(sure, "visible", True),
                    ),
                    sure,
                ],
                wrap=True,
            ),
            error,
        ],
        expand=True,
        spacing=12,
        padding=12,
    )


def _reason_text(t: Translator, kind: str, facts: dict[str, Any]) -> str:
    """One reason a stop is worth it, in words (the facts of `app.nearby.visit_worth`)."""
    if kind == "last_visit" and facts.get("last_visit_on") is None:
        return t("nearby.never_visited")
    shown = {
        k: t.money(v, facts["currency"])
        if k == "amount"
        else t.day(v)
        if isinstance(v, date)
        else round(v)
        if isinstance(v, float)
        else v
        for k, v in facts.items()
    }
    return t(f"nearby.{kind}", **shown)


def nearby_view(
    t: Translator,
    *,
    origins: list[tuple[str, str]],
    origin: str | None,
    radius_km: int,
    accounts: list[NearbyAccount] | None,
    message: str,
    on_origin: Callable[[str], None],
    on_radius: Callable[[int], None],
    on_open: Callable[[str], None],
    on_plan: Callable[[str], None],
) -> ft.Control:
    """`origins`: (key, label) of the places to look around; `accounts` None until a place is
    known. `message`: why nothing is listed (no position, nothing within the distance...)."""
    rows: list[ft.Control] = []
    for n, found in enumerate(accounts or [], start=1):
        reasons = "; ".join(_reason_text(t, r.kind, r.facts) for r in found.reasons[:3])
        rows.append(
            ft.Card(
                content=ft.Container(
                    ft.Column(
                        [
                            ft.Semantics(
                                content=ft.Text(
                                    f"{n}. {found.name} · {t('today.leg', km=t.km(found.distance_km))}",
                                    weight=ft.FontWeight.BOLD,
                                ),
                                identifier=f"nearby-{found.account_id}",
                            ),
                            ft.Text(" · ".join(p for p in (found.town, reasons) if p), size=12),
                            ft.Row(
                                [
                                    ft.TextButton(
                                        t("today.open"),
                                        icon=ft.Icons.STOREFRONT,
                                        on_click=lambda _e, a=found.account_id: on_open(a),
                                    ),
                                    ft.TextButton(
                                        t("plan.title"),
                                        icon=ft.Icons.EVENT,
                                        on_click=lambda _e, a=found.account_id: on_plan(a),
                                    ),
                                ],
                                wrap=True,
                            ),
                        ],
                        spacing=4,
                    ),
                    padding=10,
                )
            )
        )
    return ft.ListView(
        [
            ft.Text(t("nearby.title"), size=20, weight=ft.FontWeight.BOLD),
            ft.Row(
                [
                    ft.Dropdown(
                        label=t("nearby.around"),
                        options=[ft.DropdownOption(key=k, text=label) for k, label in origins],
                        value=origin,
                        width=320,
                        on_select=lambda e: on_origin(e.control.value),
                    ),
                    ft.Dropdown(
                        label=t("nearby.within"),
                        options=[ft.DropdownOption(key=str(r), text=f"{r} km") for r in RADII_KM],
                        value=str(radius_km),
                        width=130,
                        on_select=lambda e: on_radius(int(e.control.value)),
                    ),
                ],
                wrap=True,
            ),
            ft.Text(message, italic=True) if message else ft.Container(),
            *rows,
        ],
        expand=True,
        spacing=8,
        padding=12,
    )
