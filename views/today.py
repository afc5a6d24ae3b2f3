"""The Today screen: what is due (reminders, done or snoozed in one tap), the day's visits in
driving order with the kilometres, a check-in and a report for each; and the week at a glance.

Only calls into `app.services.Device`; the dialogs return what the rep wrote to callbacks that
the app wires to the device.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import flet as ft

from app.agenda import AgendaVisit, DayRoute
from app.i18n import Translator
from app.services import DueReminder

__all__ = ["ReportForm", "check_in_page", "report_page", "today_view", "week_view"]

OUTCOMES = ("positive", "neutral", "follow_up", "negative")


def _visit_tile(
    t: Translator,
    visit: AgendaVisit,
    number: int | None,
    leg_km: float | None,
    on_check_in: Callable[[AgendaVisit], None],
    on_report: Callable[[AgendaVisit], None],
) -> ft.Control:
    when = t.clock(visit.starts_at)
    status = t.code(visit.status) if visit.status != "planned" else ""
    title = " · ".join(p for p in (when, visit.account_name, visit.town) if p)
    details = " · ".join(
        p
        for p in (
            visit.purpose,
            visit.contact_name,
            t("today.appointment") if visit.fixed_time else None,
            t("today.leg", km=t.km(leg_km)) if leg_km is not None else None,
            status,
        )
        if p
    )
    actions: list[ft.Control] = []
    if visit.status == "planned":
        actions.append(ft.OutlinedButton(t("today.check_in"), on_click=lambda _e: on_check_in(visit)))
    if visit.status in ("planned", "checked_in") and not visit.has_report:
        actions.append(ft.Button(t("today.report"), on_click=lambda _e: on_report(visit)))
    return ft.Card(
        content=ft.Container(
            ft.Column(
                [
                    ft.Semantics(
                        content=ft.Text((f"{number}. " if number else "") + title, weight=ft.FontWeight.BOLD),
                        identifier=f"visit-{visit.id}",
                    ),
                    ft.Text(details, size=12),
                    ft.Row(actions, wrap=True),
                ],
                spacing=4,
            ),
            padding=10,
        )
    )


def today_view(
    t: Translator,
    *,
    day: date,
    route: DayRoute,
    reminders: list[DueReminder],
    on_day: Callable[[date], None],
    on_week: Callable[[], None],
    on_check_in: Callable[[AgendaVisit], None],
    on_report: Callable[[AgendaVisit], None],
    on_done: Callable[[DueReminder], None],
    on_snooze: Callable[[DueReminder], None],
    on_open_account: Callable[[str], None],
) -> ft.Control:
    """`route`: the visits still to make, in driving order, then the day's done or cancelled ones."""
    header = ft.Row(
        [
            ft.IconButton(
                ft.Icons.CHEVRON_LEFT, tooltip=t("today.previous"), on_click=lambda _e: on_day(day - timedelta(days=1))
            ),
            ft.Semantics(content=ft.Text(t.day(day), size=20, weight=ft.FontWeight.BOLD), identifier="today-day"),
            ft.IconButton(
                ft.Icons.CHEVRON_RIGHT, tooltip=t("today.next"), on_click=lambda _e: on_day(day + timedelta(days=1))
            ),
            ft.TextButton(t("today.week"), icon=ft.Icons.VIEW_WEEK, on_click=lambda _e: on_week()),
        ],
        wrap=True,
    )
    due: list[ft.Control] = [
        ft.Row(
            [
                ft.Column(
                    [
                        ft.Semantics(content=ft.Text(r.reason), identifier=f"reminder-{r.id}"),
                        ft.Text(f"{t.local_day(r.due_at)} · {r.account_name}", size=12),
                    ],
                    spacing=2,
                    expand=True,
                ),
                ft.IconButton(
                    ft.Icons.STOREFRONT, tooltip=t("today.open"), on_click=lambda _e, a=r.account_id: on_open_account(a)
                ),
                ft.IconButton(ft.Icons.CHECK, tooltip=t("today.done"), on_click=lambda _e, r=r: on_done(r)),
                ft.IconButton(ft.Icons.SNOOZE, tooltip=t("today.snooze"), on_click=lambda _e, r=r: on_snooze(r)),
            ]
        )
        for r in reminders
    ]
    legs = route.legs_km
    routed = len(legs) == len(route.stops) + 1  # from a start and back: an optimised round
    # The leg that leads to each visit: from the start when routed, from the visit before if not.
    leading = legs[: len(route.stops)] if routed else [0.0, *legs]
    stops = [
        _visit_tile(t, visit, n, leading[n - 1] if n - 1 < len(leading) else None, on_check_in, on_report)
        for n, visit in enumerate(route.stops, start=1)
    ]
    total = t("today.total", km=t.km(route.total_km), back=t.km(legs[-1])) if routed and route.stops else ""
    controls: list[ft.Control] = [header]
    controls.append(ft.Text(t("today.due"), size=16, weight=ft.FontWeight.BOLD))
    controls += due or [ft.Text(t("today.nothing_due"), italic=True)]
    controls.append(ft.Text(t("today.route"), size=16, weight=ft.FontWeight.BOLD))
    if total:
        controls.append(ft.Semantics(content=ft.Text(total), identifier="route-total"))
    elif route.stops:
        controls.append(ft.Text(t("today.no_home"), italic=True, size=12))
    controls += stops or [ft.Text(t("today.no_visits"), italic=True)]
    controls += [_visit_tile(t, v, None, None, on_check_in, on_report) for v in route.unplaced + route.others]
    return ft.ListView(controls, expand=True, spacing=8, padding=12)


def week_view(t: Translator, *, day: date, visits: list[AgendaVisit], on_day: Callable[[date], None]) -> ft.Control:
    monday = day - timedelta(days=day.weekday())
    controls: list[ft.Control] = [
        ft.Row(
            [
                ft.IconButton(ft.Icons.CHEVRON_LEFT, on_click=lambda _e: on_day(monday - timedelta(days=7))),
                ft.Text(t("today.week_of", day=t.day(monday)), size=20, weight=ft.FontWeight.BOLD),
                ft.IconButton(ft.Icons.CHEVRON_RIGHT, on_click=lambda _e: on_day(monday + timedelta(days=7))),
            ]
        )
    ]
    for offset in range(7):
        current = monday + timedelta(days=offset)
        of_day = [v for v in visits if v.starts_at.astimezone(t.zone).date() == current]
        controls.append(
            ft.TextButton(
                f"{t.day(current)} · {t('today.visits', count=len(of_day))}",
                on_click=lambda _e, d=current: on_day(d),
            )
        )
        controls += [
            ft.Text(f"   {t.clock(v.starts_at)} · {v.account_name} · {v.purpose or ''}", size=12) for v in of_day
        ]
    return ft.ListView(controls, expand=True, spacing=4, padding=12)


def check_in_page(
    t: Translator,
    visit: AgendaVisit,
    on_confirm: Callable[[float | None, float | None], None],
    on_back: Callable[[], None],
) -> ft.Control:
    """Where the rep is: typed (or left blank) where the platform gives no position. A page of
    its own rather than a dialog: a phone shows it whole, and Back leaves it."""
    lat = ft.TextField(label=t("today.latitude"), value="", width=160, dense=True)
    lon = ft.TextField(label=t("today.longitude"), value="", width=160, dense=True)
    error = ft.Text("", color=ft.Colors.ERROR)

    def confirm(_e: Any) -> None:
        try:
            values = [float(f.value.replace(",", ".")) if (f.value or "").strip() else None for f in (lat, lon)]
        except ValueError:
            error.value = t("today.bad_position")
            return
        on_confirm(values[0], values[1])

    return ft.ListView(
        [
            ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back()),
            ft.Text(t("today.check_in_at", account=visit.account_name), size=20, weight=ft.FontWeight.BOLD),
            ft.Text(t("today.position_help")),
            ft.Row([lat, lon], wrap=True),
            error,
            ft.Row([ft.Button(t("today.confirm_check_in"), icon=ft.Icons.PLACE, on_click=confirm)]),
        ],
        expand=True,
        spacing=12,
        padding=12,
    )


class ReportForm:
    """The report's fields, read by the caller when the rep saves."""

    def __init__(self, t: Translator, today: date) -> None:
        self.t = t
        self.today = today
        self.notes = ft.TextField(label=t("today.notes"), multiline=True, min_lines=3, max_lines=8)
        self.outcome = ft.Dropdown(
            label=t("today.outcome"),
            options=[ft.DropdownOption(key=o, text=t(f"outcome.{o}")) for o in OUTCOMES],
            width=240,
        )
        self.next_steps = ft.TextField(label=t("today.next_steps"), multiline=True, max_lines=4)
        self.follow_up = ft.TextField(label=t("today.follow_up"), width=200, dense=True)
        self.error = ft.Text("", color=ft.Colors.ERROR)

    def quick(self, days: int) -> Callable[[Any], None]:
        def fill(_e: Any) -> None:
            self.follow_up.value = (self.today + timedelta(days=days)).isoformat()

        return fill

    def follow_up_day(self) -> date | None:
        text = (self.follow_up.value or "").strip()
        return date.fromisoformat(text) if text else None

    def controls(self) -> list[ft.Control]:
        return [
            self.notes,
            self.outcome,
            self.next_steps,
            ft.Row(
                [
                    self.follow_up,
                    ft.TextButton(self.t("today.in_weeks", weeks=1), on_click=self.quick(7)),
                    ft.TextButton(self.t("today.in_weeks", weeks=2), on_click=self.quick(14)),
                ],
                wrap=True,
            ),
            self.error,
        ]


def report_page(
    t: Translator, visit: AgendaVisit, form: ReportForm, on_save: Callable[[], None], on_back: Callable[[], None]
) -> ft.Control:
    return ft.ListView(
        [
            ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back()),
            ft.Text(t("today.report_of", account=visit.account_name), size=20, weight=ft.FontWeight.BOLD),
            *form.controls(),
            ft.Row([ft.Button(t("today.save_report"), icon=ft.Icons.SAVE, on_click=lambda _e: on_save())]),
        ],
        expand=True,
        spacing=12,
        padding=12,
    )
