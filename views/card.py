"""The customer card screen, drawn from a `CustomerCard` built by app.card.

On top, what a rep needs in ten seconds: the name, four figures, and the pre-visit brief with
the revenue chart. Below, one tab per part of the card, so a phone scrolls one short list at a
time: contacts, purchases, payments, exchanges, deals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import flet as ft

from app.card import CustomerCard
from app.i18n import Translator
from views.charts import monthly_bars

__all__ = ["card_view"]


def _section(title: str, controls: Sequence[ft.Control], identifier: str) -> ft.Control:
    return ft.Card(
        content=ft.Container(
            ft.Column([ft.Text(title, size=16, weight=ft.FontWeight.BOLD), *controls], spacing=6),
            padding=12,
        ),
        key=identifier,
    )


def _figure(label: str, value: str, identifier: str, alert: bool = False) -> ft.Control:
    return ft.Container(
        ft.Column(
            [
                ft.Text(label, size=12),
                ft.Semantics(
                    content=ft.Text(
                        value, size=18, weight=ft.FontWeight.BOLD, color=ft.Colors.ERROR if alert else None
                    ),
                    identifier=identifier,
                ),
            ],
            spacing=2,
        ),
        padding=8,
    )


def _link(text: str | None, url: str | None) -> ft.Control | None:
    if not text:
        return None
    return ft.TextButton(text, url=url) if url else ft.Text(text)


def _map_url(lat: float | None, lon: float | None, platform: str) -> str | None:
    """The phone's own map app (Apple Maps on iOS, geo: on Android); OpenStreetMap elsewhere."""
    if lat is None or lon is None:
        return None
    if platform == "ios":
        return f"https://maps.apple.com/?ll={lat},{lon}&q={lat},{lon}"
    if platform == "android":
        return f"geo:{lat},{lon}?q={lat},{lon}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def _dial(number: str | None) -> str | None:
    return f"tel:{number.replace(' ', '')}" if number else None


def _dots(*parts: str | None) -> str:
    """The parts that are there, one after the other: `Directeur · SMS · répond vite`."""
    return " · ".join(p for p in parts if p)


def _or_empty(controls: list[ft.Control], empty: str) -> list[ft.Control]:
    return controls or [ft.Text(empty, italic=True)]


def _notes_editor(t: Translator, notes: str | None, on_save: Callable[[str], str | None]) -> ft.Control:
    field = ft.TextField(label=t("card.notes"), value=notes or "", multiline=True, min_lines=2, max_lines=6)
    message = ft.Text("")

    def save(_e: Any) -> None:
        error = on_save(field.value or "")
        message.value = error or t("card.saved")
        message.color = ft.Colors.ERROR if error else None

    return ft.Column([field, ft.Row([ft.Button(t("card.save_notes"), icon=ft.Icons.SAVE, on_click=save), message])])


def _brief(card: CustomerCard, t: Translator) -> ft.Control:
    points: list[ft.Control] = [
        ft.Semantics(
            content=ft.Row(
                [
                    ft.Icon(ft.Icons.PRIORITY_HIGH if p.priority >= 90 else ft.Icons.LIGHTBULB_OUTLINE, size=18),
                    ft.Text(t.brief_point(p), expand=True),
                ],
                vertical_alignment=ft.CrossAxisAlignment.START,
            ),
            identifier=f"brief-{p.kind}",
        )
        for p in card.brief
    ]
    return _section(t("card.brief"), _or_empty(points, t("card.brief_empty")), "section-brief")


def _overview(
    card: CustomerCard, t: Translator, on_save_notes: Callable[[str], str | None] | None, platform: str
) -> list[ft.Control]:
    account = card.account
    address = ", ".join(
        p
        for p in (
            account.get("billing_street"),
            f"{account.get('billing_postcode') or ''} {account.get('billing_city') or ''}".strip(),
        )
        if p
    )
    map_url = _map_url(account.get("billing_lat"), account.get("billing_lon"), platform)
    legal = _dots(
        account.get("legal_form"),
        f"SIREN {account['siren']}" if account.get("siren") else None,
        f"SIRET {account['siret']}" if account.get("siret") else None,
        f"TVA {account['vat_number']}" if account.get("vat_number") else None,
        account.get("industry"),
        account.get("size"),
    )
    identity: list[ft.Control] = [ft.Text(legal)] if legal else []
    identity += [
        c
        for c in (
            _link(address, map_url),
            _link(account.get("phone"), _dial(account.get("phone"))),
            _link(account.get("email"), f"mailto:{account['email']}" if account.get("email") else None),
            _link(account.get("website"), account.get("website")),
            *(_link(name.capitalize(), url) for name, url in (account.get("social_profiles") or {}).items()),
        )
        if c is not None
    ]
    if account.get("origin") or account.get("first_touch_at"):
        identity.append(
            ft.Text(
                t(
                    "card.origin",
                    origin=account.get("origin") or "—",
                    day=t.local_day(account["first_touch_at"]) if account.get("first_touch_at") else "—",
                )
            )
        )
    tags = [account.get("segment"), *(account.get("tags") or [])]
    if any(tags):
        identity.append(ft.Row([ft.Chip(label=ft.Text(tag)) for tag in tags if tag], wrap=True))
    # The rep's own notes come right after the brief: what they wrote last time matters next.
    notes: list[ft.Control] = []
    if on_save_notes is not None:
        notes.append(ft.Container(_notes_editor(t, account.get("notes"), on_save_notes), padding=4))
    elif account.get("notes"):
        notes.append(ft.Text(account["notes"], italic=True))
    chart = monthly_bars(t, [(m.month, m.net_amount) for m in card.revenue_by_month], card.currency, "card-chart")
    year = ft.Row(
        [
            _figure(t("card.ytd"), t.money(card.year_to_date, card.currency), "card-ytd"),
            _figure(t("card.last_ytd"), t.money(card.last_year_to_date, card.currency), "card-last-ytd"),
        ],
        wrap=True,
    )
    return [
        _brief(card, t),
        *notes,
        _section(t("card.chart"), [chart, year], "section-chart"),
        _section(t("card.identity"), identity, "section-identity"),
    ]


def _contacts(card: CustomerCard, t: Translator) -> list[ft.Control]:
    tiles: list[ft.Control] = []
    for c in card.contacts:
        consent = [t(f"channel.{ch}") for ch, yes in c.consent.items() if yes]
        channel = t(f"channel.{c.preferred_channel}") if c.preferred_channel else None
        details = [
            _dots(c.role, channel, c.responsiveness),
            _dots(c.family, c.hobbies, c.associations),
            t("card.birthday", day=t.day(c.next_birthday)) if c.next_birthday else "",
            t("card.consent", channels=", ".join(consent) or t("card.no_consent")),
        ]
        links = [
            link
            for link in (
                _link(c.mobile, _dial(c.mobile)),
                _link(c.phone, _dial(c.phone)),
                _link(c.email, f"mailto:{c.email}" if c.email else None),
                *(_link(name.capitalize(), url) for name, url in c.social_profiles.items()),
            )
            if link is not None
        ]
        tiles.append(
            _section(
                c.name + (f" ({t('card.primary')})" if c.is_primary else ""),
                [*(ft.Text(d) for d in details if d), ft.Row(links, wrap=True)],
                f"contact-{c.id}",
            )
        )
    return _or_empty(tiles, "—")


def _purchases(card: CustomerCard, t: Translator) -> list[ft.Control]:
    top: list[ft.Control] = [
        ft.ListTile(
            title=ft.Text(p.name),
            subtitle=ft.Text(
                t("card.product_line", orders=p.orders, quantity=t.number(p.quantity), last=t.day(p.last_on))
            ),
            trailing=ft.Text(t.money(p.net_amount, card.currency)),
            dense=True,
        )
        for p in card.top_products
    ]
    orders: list[ft.Control] = [
        ft.Column(
            [
                ft.Row(
                    [
                        ft.Text(t.local_day(o.ordered_at), width=110),
                        ft.Text(
                            _dots(o.number, t.code(o.status) if o.status == "cancelled" else None),
                            expand=True,
                            color=ft.Colors.ERROR if o.status == "cancelled" else None,
                        ),
                        ft.Text(
                            t("card.order_line") if len(o.lines) == 1 else t("card.order_lines", count=len(o.lines)),
                            width=80,
                        ),
                        ft.Semantics(
                            content=ft.Text(t.money(o.gross_amount, o.currency)),
                            identifier=f"order-total-{o.number or o.id}",
                        ),
                    ]
                ),
                ft.Text(
                    ", ".join(f"{line.quantity} × {line.description}" for line in o.lines),
                    size=12,
                    color=ft.Colors.ON_SURFACE_VARIANT,
                ),
            ],
            spacing=0,
        )
        for o in card.orders
    ]
    return [
        _section(t("card.top_products"), _or_empty(top, t("card.no_orders")), "section-top-products"),
        _section(t("card.orders"), _or_empty(orders, t("card.no_orders")), "section-orders"),
    ]


def _payments(card: CustomerCard, t: Translator) -> list[ft.Control]:
    account = card.account
    terms: list[ft.Control] = [ft.Text(t("card.payment_terms", days=account["payment_terms_days"]))]
    if account.get("credit_limit_amount") is not None:
        terms.append(ft.Text(t("card.credit_limit", amount=t.money(account["credit_limit_amount"], card.currency))))
    if card.average_days_late is not None:
        terms.append(ft.Text(t("card.average_late", days=f"{card.average_days_late:.0f}")))
    invoices: list[ft.Control] = [
        ft.Row(
            [
                ft.Text(i.number, expand=True),
                ft.Text(t("card.due", date=t.day(i.due_on))),
                ft.Text(t("card.days_late", days=i.days_overdue) if i.overdue else "", color=ft.Colors.ERROR),
                ft.Text(t.money(i.open_amount, i.currency)),
            ]
        )
        for i in card.open_invoices
    ]
    paid: list[ft.Control] = [
        ft.Row(
            [
                ft.Text(
                    t(
                        "card.payment_line",
                        day=t.day(p.paid_on),
                        method=t(f"method.{p.method}"),
                        invoice=p.invoice_number,
                    )
                ),
                ft.Text(t.money(p.amount, p.currency)),
            ],
            alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
            wrap=True,
        )
        for p in card.payments
    ]
    return [
        _section(t("card.invoices"), [*terms, *_or_empty(invoices, t("card.no_invoices"))], "section-invoices"),
        _section(t("card.payments"), _or_empty(paid, "—"), "section-payments"),
    ]


def _history(card: CustomerCard, t: Translator) -> list[ft.Control]:
    timeline: list[ft.Control] = [
        ft.Text(
            _dots(
                t.local_day(item.occurred_at),
                t.code(item.kind) + (f" ({t.code(item.direction)})" if item.direction else ""),
                item.subject,
                item.summary,
            )
        )
        for item in card.timeline
    ]
    tickets: list[ft.Control] = [
        ft.Text(
            f"{t.local_day(k.opened_at)} · {t.code(k.kind)} · {k.subject} · {t.code(k.status)} ({t.code(k.priority)})"
            + (f" · {t.local_day(k.resolved_at)}" if k.resolved_at else ""),
            color=ft.Colors.ERROR if k.status != "resolved" else None,
        )
        for k in card.tickets
    ]
    answers: list[ft.Control] = [
        ft.Text(f"{t.local_day(a.responded_at)} · {a.campaign} · {t.code(a.response)}") for a in card.campaign_answers
    ]
    answers += [
        ft.Text(
            f"{t.local_day(s.answered_at)} · {t('card.survey_line', kind=s.kind.upper(), score=s.score)}"
            + (f" · {s.comment}" if s.comment else "")
        )
        for s in card.survey_answers
    ]
    return [
        _section(t("card.timeline"), _or_empty(timeline, t("card.no_activities")), "section-activities"),
        _section(t("card.tickets_all"), _or_empty(tickets, t("card.no_tickets")), "section-tickets"),
        _section(t("card.campaigns"), _or_empty(answers, t("card.no_campaigns")), "section-campaigns"),
    ]


def _deals(card: CustomerCard, t: Translator) -> list[ft.Control]:
    account = card.account
    competition: list[ft.Control] = []
    if account.get("competitor"):
        competition.append(ft.Text(t("card.competitor", name=account["competitor"])))
    if account.get("competitor_contract_end"):
        competition.append(ft.Text(t("card.contract_end", day=t.day(account["competitor_contract_end"]))))
    competition += [ft.Text(t("card.lost_reason", reason=reason)) for reason in card.lost_reasons]
    opportunities: list[ft.Control] = [
        ft.Text(
            _dots(
                o.name,
                t.code(o.stage),
                t.money(o.amount, o.currency),
                f"{o.probability_pct} %",
                t.day(o.expected_close) if o.expected_close else None,
                o.competitor,
                o.lost_reason,
            )
        )
        for o in card.opportunities
    ]
    quotes: list[ft.Control] = [
        ft.TextButton(
            f"{q.number} · {t(f'quote.status_{q.status}')} · {t.money(q.gross_amount, q.currency)}"
            + (f" · {t.day(q.valid_until)}" if q.valid_until else ""),
            icon=ft.Icons.REQUEST_QUOTE,
            # Its page: read it, send it, have it signed.
            on_click=lambda e, quote_id=q.id: e.control.page.navigate(f"/quote/{quote_id}"),
        )
        for q in card.open_quotes
    ]
    reminders: list[ft.Control] = [ft.Text(f"{t.local_day(r.due_at)} · {r.reason}") for r in card.reminders]
    stages: list[ft.Control] = [
        ft.Text(f"{t.local_day(s.changed_at)} · {t('stage.' + s.to_stage)}") for s in card.stage_history
    ]
    return [
        _section(t("card.competition"), _or_empty(competition, t("card.no_competitor")), "section-competition"),
        _section(t("card.opportunities"), _or_empty(opportunities, t("card.no_opportunities")), "section-opps"),
        _section(t("card.quotes"), _or_empty(quotes, t("card.no_quotes")), "section-quotes"),
        _section(t("card.reminders"), _or_empty(reminders, t("card.no_reminders")), "section-reminders"),
        _section(t("card.stage_history"), _or_empty(stages, "—"), "section-stages"),
    ]


def _audit_line(t: Translator, event: dict[str, Any]) -> ft.Control:
    key = f"entity.{event['entity']}"
    what = t(key) if t(key) != key else event["entity"]
    action = t(f"audit.{event['action']}")
    count = f" ×{t.number(event['count'])}" if event["count"] > 1 else ""
    detail = f" · {event['detail']}" if event.get("detail") else ""
    when = t.moment(datetime.fromisoformat(event["at"]))
    return ft.Text(f"{when} · {event.get('username') or '—'} · {action} · {what}{count}{detail}", size=13)


def _audit_section(t: Translator, load: Callable[[], Awaitable[list[dict[str, Any]] | str]]) -> ft.Control:
    """A manager's view of the server's audit log for this customer, fetched on demand (online)."""
    rows = ft.Column([], spacing=4)

    async def show(_e: Any) -> None:
        rows.controls = [ft.ProgressRing(width=16, height=16)]
        rows.update()
        found = await load()
        if isinstance(found, str):
            rows.controls = [ft.Text(found, color=ft.Colors.ERROR)]
        else:
            rows.controls = [_audit_line(t, event) for event in found] or [ft.Text(t("audit.none"))]
        rows.update()

    button = ft.OutlinedButton(t("audit.show"), icon=ft.Icons.MANAGE_SEARCH, on_click=show)
    return _section(t("audit.title"), [button, rows], "section-audit")


def card_view(
    card: CustomerCard | None,
    t: Translator,
    *,
    on_back: Callable[[Any], None],
    on_save_notes: Callable[[str], str | None] | None = None,
    on_plan_visit: Callable[[], None] | None = None,
    on_new_quote: Callable[[], None] | None = None,
    load_audit: Callable[[], Awaitable[list[dict[str, Any]] | str]] | None = None,
    platform: str = "",
) -> ft.Control:
    """`platform`: where the app runs ("ios", "android", ...; Flet's page.platform), for map links.
    `load_audit`: for managers, the server's audit log of this customer (or why it cannot be read)."""
    back = ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=on_back)], wrap=True)
    if on_plan_visit is not None and card is not None:
        back.controls.append(ft.TextButton(t("plan.title"), icon=ft.Icons.EVENT, on_click=lambda _e: on_plan_visit()))
    if on_new_quote is not None and card is not None:
        back.controls.append(
            ft.TextButton(t("quote.new"), icon=ft.Icons.REQUEST_QUOTE, on_click=lambda _e: on_new_quote())
        )
    if card is None:
        return ft.Column([back, ft.Text(t("card.not_found"))])
    account = card.account
    figures = ft.Row(
        [
            _figure(t("card.revenue_12m"), t.money(card.revenue_12_months, card.currency), "card-revenue"),
            _figure(
                t("card.overdue"), t.money(card.overdue_amount, card.currency), "card-overdue", card.overdue_amount > 0
            ),
            _figure(t("card.open_amount"), t.money(card.open_amount, card.currency), "card-open"),
            _figure(t("card.next_visit"), t.moment(card.next_visit) if card.next_visit else "—", "card-next-visit"),
        ],
        wrap=True,
    )
    tabs = [
        ("card.tab_overview", _overview(card, t, on_save_notes, platform)),
        ("card.tab_contacts", _contacts(card, t)),
        ("card.tab_purchases", _purchases(card, t)),
        ("card.tab_payments", _payments(card, t)),
        ("card.tab_history", [*_history(card, t), *([_audit_section(t, load_audit)] if load_audit else [])]),
        ("card.tab_deals", _deals(card, t)),
    ]
    header = ft.Column(
        [
            back,
            ft.Semantics(content=ft.Text(account["name"], size=24, weight=ft.FontWeight.BOLD), identifier="card-name"),
            ft.Text(f"{t('card.stage')} : {t('stage.' + account['lifecycle_stage'])}"),
            figures,
        ],
        spacing=4,
    )
    return ft.Column(
        [
            ft.Container(header, padding=ft.Padding.symmetric(horizontal=8)),
            ft.Tabs(
                length=len(tabs),
                expand=True,
                content=ft.Column(
                    [
                        ft.TabBar(tabs=[ft.Tab(label=t(key)) for key, _controls in tabs], scrollable=True),
                        ft.TabBarView(
                            expand=True,
                            controls=[
                                ft.ListView(controls, expand=True, spacing=8, padding=8) for _key, controls in tabs
                            ],
                        ),
                    ],
                    expand=True,
                ),
            ),
        ],
        expand=True,
        spacing=0,
    )
