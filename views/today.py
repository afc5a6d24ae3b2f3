"""The Today screen: what is due (reminders, done or snoozed in one tap), the day's visits in
driving order with the kilometres, a check-in and a report for each; and the week at a glance.

Only calls into `app.services.Device`; the dialogs return what the rep wrote to callbacks that
the app wires to the device.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any

import flet as ft

from app.agenda import AgendaVisit, DayRoute
from app.i18n import Translator
from app.services import DueReminder, ProductLine

__all__ = ["ProductPicker", "ReportForm", "check_in_page", "report_page", "today_view", "week_view"]

OUTCOMES = ("positive", "neutral", "follow_up", "negative")


def _visit_tile(
    t: Translator,
    visit: AgendaVisit,
    number: int | None,
    leg_km: float | None,
    on_check_in: Callable[[AgendaVisit], None],
    on_report: Callable[[AgendaVisit], None],
    on_change: Callable[[AgendaVisit], None],
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
    if visit.status == "planned":
        actions.append(
            ft.TextButton(t("today.change"), icon=ft.Icons.EDIT_CALENDAR, on_click=lambda _e: on_change(visit))
        )
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
    on_change: Callable[[AgendaVisit], None],
    on_done: Callable[[DueReminder], None],
    on_snooze: Callable[[DueReminder], None],
    on_open_account: Callable[[str], None],
    on_plan: Callable[[], None],
    on_nearby: Callable[[], None],
    map_slot: ft.Control | None = None,
    start_here: bool = False,
    on_start: Callable[[bool], Awaitable[str | None]] | None = None,
) -> ft.Control:
    """`route`: the visits still to make, in driving order, then the day's done or cancelled ones.
    `map_slot`: where the route's map goes once the map's tiles are known to answer."""
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
            ft.TextButton(t("today.plan"), icon=ft.Icons.EVENT, on_click=lambda _e: on_plan()),
            ft.TextButton(t("today.nearby"), icon=ft.Icons.NEAR_ME, on_click=lambda _e: on_nearby()),
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
        _visit_tile(t, visit, n, leading[n - 1] if n - 1 < len(leading) else None, on_check_in, on_report, on_change)
        for n, visit in enumerate(route.stops, start=1)
    ]
    total = t("today.total", km=t.km(route.total_km), back=t.km(legs[-1])) if routed and route.stops else ""
    start_note = ft.Text("", size=12, color=ft.Colors.ERROR)

    async def switch(_e: Any) -> None:
        assert on_start is not None
        start_note.value = t("today.locating") if not start_here else ""
        start_note.update()
        problem = await on_start(not start_here)
        if problem:
            start_note.value = problem
            start_note.update()

    start_button = (
        ft.TextButton(
            t("today.from_home") if start_here else t("today.from_here"),
            icon=ft.Icons.HOME if start_here else ft.Icons.MY_LOCATION,
            on_click=switch,
        )
        if on_start is not None
        else None
    )
    controls: list[ft.Control] = [header]
    controls.append(ft.Text(t("today.due"), size=16, weight=ft.FontWeight.BOLD))
    controls += due or [ft.Text(t("today.nothing_due"), italic=True)]
    route_title: list[ft.Control] = [ft.Text(t("today.route"), size=16, weight=ft.FontWeight.BOLD)]
    if start_button is not None:
        route_title.append(start_button)
    controls.append(ft.Row(route_title, wrap=True))
    controls.append(start_note)
    if total:
        controls.append(ft.Semantics(content=ft.Text(total), identifier="route-total"))
    elif route.stops:
        controls.append(ft.Text(t("today.no_home"), italic=True, size=12))
    if map_slot is not None and route.stops:
        controls.append(map_slot)
    controls += stops or [ft.Text(t("today.no_visits"), italic=True)]
    controls += [
        _visit_tile(t, v, None, None, on_check_in, on_report, on_change) for v in route.unplaced + route.others
    ]
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
    locate: Callable[[], Awaitable[tuple[float, float] | str]] | None = None,
) -> ft.Control:
    """Where the rep is: the device's position (`locate`: flet-geolocator) where the platform
    gives one, typed (or left blank) where it does not. A page of its own rather than a dialog:
    a phone shows it whole, and Back leaves it."""
    lat = ft.TextField(label=t("today.latitude"), value="", width=160, dense=True)
    lon = ft.TextField(label=t("today.longitude"), value="", width=160, dense=True)
    error = ft.Text("", color=ft.Colors.ERROR)
    status = ft.Text("", size=12)

    async def use_position(_e: Any) -> None:
        assert locate is not None
        status.value = t("today.locating")
        status.update()
        answer = await locate()
        if isinstance(answer, str):
            status.value = t("today.no_position", reason=answer)
        else:
            lat.value, lon.value = f"{answer[0]:.6f}", f"{answer[1]:.6f}"
            status.value = t("today.located", lat=lat.value, lon=lon.value)
        for control in (lat, lon, status):
            control.update()  # an awaited handler's changes are not sent by themselves

    def confirm(_e: Any) -> None:
        try:
            values = [float(f.value.replace(",", ".")) if (f.value or "").strip() else None for f in (lat, lon)]
        except ValueError:
            error.value = t("today.bad_position")
            return
        on_confirm(values[0], values[1])

    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("today.check_in_at", account=visit.account_name), size=20, weight=ft.FontWeight.BOLD),
            ft.Text(t("today.position_help")),
            ft.Row(
                [
                    lat,
                    lon,
                    *(
                        [ft.TextButton(t("today.use_position"), icon=ft.Icons.MY_LOCATION, on_click=use_position)]
                        if locate
                        else []
                    ),
                ],
                wrap=True,
            ),
            ft.Semantics(content=status, identifier="check-in-status"),
            error,
            ft.Row([ft.Button(t("today.confirm_check_in"), icon=ft.Icons.PLACE, on_click=confirm)]),
        ],
        expand=True,
        spacing=12,
        padding=12,
    )


class ProductPicker:
    """Products picked by searching the catalogue on the device; each one a chip that can be removed."""

    def __init__(self, t: Translator, search: Callable[[str], list[ProductLine]], label: str | None = None) -> None:
        self.search = search
        self.chosen: dict[str, str] = {}  # id -> name, in the order picked
        self.query = ft.TextField(
            label=label or t("today.products"), prefix_icon=ft.Icons.SEARCH, dense=True, on_change=self._find
        )
        self.found = ft.Row(wrap=True, spacing=4)
        self.chips = ft.Row(wrap=True, spacing=4)

    def _find(self, e: Any) -> None:
        text = (e.control.value or "").strip()
        self.found.controls = [
            ft.TextButton(f"+ {p.name} ({p.sku})", on_click=lambda _e, p=p: self.add(p.id, p.name))
            for p in (self.search(text) if text else [])
            if p.id not in self.chosen
        ]

    def add(self, product_id: str, name: str) -> None:
        self.chosen[product_id] = name
        self.query.value = ""
        self.found.controls = []
        self._draw()

    def remove(self, product_id: str) -> None:
        self.chosen.pop(product_id, None)
        self._draw()

    def clear(self) -> None:
        self.chosen = {}
        self.query.value = ""
        self.found.controls = []
        self._draw()

    def _draw(self) -> None:
        self.chips.controls = [
            ft.Chip(label=ft.Text(name), on_delete=lambda _e, i=product_id: self.remove(i))
            for product_id, name in self.chosen.items()
        ]

    def controls(self) -> list[ft.Control]:
        return [self.query, self.found, self.chips]


class ReportForm:
    """The report's fields, read by the caller when the rep saves."""

    def __init__(
        self,
        t: Translator,
        today: date,
        *,
        contacts: Sequence[tuple[str, str]] = (),
        contact_id: str | None = None,
        search_products: Callable[[str], list[ProductLine]] | None = None,
    ) -> None:
        self.t = t
        self.today = today
        self.notes = ft.TextField(label=t("today.notes"), multiline=True, min_lines=3, max_lines=8)
        self.outcome = ft.Dropdown(
            label=t("today.outcome"),
            options=[ft.DropdownOption(key=o, text=t(f"outcome.{o}")) for o in OUTCOMES],
            width=240,
        )
        self.met = ft.Dropdown(
            label=t("today.contact_met"),
            options=[ft.DropdownOption(key=cid, text=label) for cid, label in contacts],
            value=contact_id if any(cid == contact_id for cid, _ in contacts) else None,
            width=320,
            visible=bool(contacts),
        )
        self.products = ProductPicker(t, search_products or (lambda _q: []))
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
            ft.Row([self.outcome, self.met], wrap=True),
            *self.products.controls(),
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
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("today.report_of", account=visit.account_name), size=20, weight=ft.FontWeight.BOLD),
            *form.controls(),
            ft.Row([ft.Button(t("today.save_report"), icon=ft.Icons.SAVE, on_click=lambda _e: on_save())]),
        ],
        expand=True,
        spacing=12,
        padding=12,
    )
