"""The customer card screen, drawn from a `CustomerCard` built by app.card."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flet as ft

from app.card import CustomerCard
from app.i18n import Translator

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


def _notes_editor(t: Translator, notes: str | None, on_save: Callable[[str], str | None]) -> ft.Control:
    field = ft.TextField(label=t("card.notes"), value=notes or "", multiline=True, min_lines=2, max_lines=6)
    message = ft.Text("")

    def save(_e: Any) -> None:
        error = on_save(field.value or "")
        message.value = error or t("card.saved")
        message.color = ft.Colors.ERROR if error else None

    return ft.Column([field, ft.Row([ft.Button(t("card.save_notes"), icon=ft.Icons.SAVE, on_click=save), message])])


def card_view(
    card: CustomerCard | None,
    t: Translator,
    *,
    on_back: Callable[[Any], None],
    on_save_notes: Callable[[str], str | None] | None = None,
) -> ft.Control:
    back = ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=on_back)])
    if card is None:
        return ft.Column([back, ft.Text(t("card.not_found"))])
    account = card.account
    address = ", ".join(
        p
        for p in (
            account.get("billing_street"),
            f"{account.get('billing_postcode') or ''} {account.get('billing_city') or ''}".strip(),
        )
        if p
    )
    map_url = (
        f"geo:{account['billing_lat']},{account['billing_lon']}" if account.get("billing_lat") is not None else None
    )
    identity = [
        ft.Text(
            f"{account.get('legal_form') or ''} · SIREN {account.get('siren') or '—'} · {account.get('industry') or ''}"
        ),
        ft.Text(f"{t('card.stage')} : {t('stage.' + account['lifecycle_stage'])}"),
        *[
            c
            for c in (
                _link(address, map_url),
                _link(
                    account.get("phone"), f"tel:{account['phone'].replace(' ', '')}" if account.get("phone") else None
                ),
                _link(account.get("email"), f"mailto:{account['email']}" if account.get("email") else None),
                _link(account.get("website"), account.get("website")),
            )
            if c is not None
        ],
    ]
    if on_save_notes is not None:
        identity.append(_notes_editor(t, account.get("notes"), on_save_notes))
    elif account.get("notes"):
        identity.append(ft.Text(account["notes"], italic=True))

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
    contacts = [
        ft.ListTile(
            title=ft.Text(c.name + (f" ({t('card.primary')})" if c.is_primary else "")),
            subtitle=ft.Text(" · ".join(p for p in (c.role, c.mobile or c.phone, c.email, c.hobbies) if p)),
            url=f"tel:{(c.mobile or c.phone or '').replace(' ', '')}" if (c.mobile or c.phone) else None,
            dense=True,
        )
        for c in card.contacts
    ]
    orders: list[ft.Control] = [
        ft.Row(
            [
                ft.Text(t.local_day(o.ordered_at), width=110),
                ft.Text(o.number or "", expand=True),
                ft.Text(
                    t("card.order_line") if len(o.lines) == 1 else t("card.order_lines", count=len(o.lines)), width=80
                ),
                ft.Semantics(
                    content=ft.Text(t.money(o.gross_amount, o.currency)), identifier=f"order-total-{o.number or o.id}"
                ),
            ]
        )
        for o in card.orders
    ] or [ft.Text(t("card.no_orders"))]
    invoices: list[ft.Control] = [
        ft.Row(
            [
                ft.Text(i.number, expand=True),
                ft.Text(t("card.due", date=t.day(i.due_on))),
                ft.Text(
                    t("card.days_late", days=i.days_overdue) if i.overdue else "",
                    color=ft.Colors.ERROR,
                ),
                ft.Text(t.money(i.open_amount, i.currency)),
            ]
        )
        for i in card.open_invoices
    ] or [ft.Text(t("card.no_invoices"))]
    activities: list[ft.Control] = [
        ft.Text(f"{t.local_day(a.occurred_at)} · {a.kind} · {a.subject or ''} — {a.summary or ''}")
        for a in card.activities
    ] or [ft.Text(t("card.no_activities"))]
    sections = [
        back,
        ft.Semantics(content=ft.Text(account["name"], size=24, weight=ft.FontWeight.BOLD), identifier="card-name"),
        figures,
        _section(t("card.identity"), identity, "section-identity"),
        _section(t("card.contacts"), contacts, "section-contacts"),
    ]
    if card.open_tickets:
        sections.append(
            _section(
                t("card.tickets"),
                [
                    ft.Text(f"{t.local_day(k['opened_at'])} · {k['subject']} ({k['priority']})")
                    for k in card.open_tickets
                ],
                "section-tickets",
            )
        )
    sections += [
        _section(t("card.invoices"), invoices, "section-invoices"),
        _section(t("card.orders"), orders, "section-orders"),
        _section(t("card.activities"), activities, "section-activities"),
    ]
    return ft.ListView(sections, expand=True, spacing=8, padding=8)
