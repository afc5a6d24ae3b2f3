"""The catalogue offline: products by name, reference or category, with the list price and
whether they are in stock, as last synced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flet as ft

from app.i18n import Translator
from app.services import ProductLine

__all__ = ["catalogue_view"]

ALL = "*"


def catalogue_view(
    t: Translator,
    *,
    categories: list[str],
    browse: Callable[[str, str | None], list[ProductLine]],
    synced: str,
) -> ft.Control:
    """`browse(query, category)`: the products to list; `synced`: when the catalogue was last
    brought from the server, in words."""
    results = ft.ListView(expand=True, spacing=0)
    query = ft.TextField(label=t("catalogue.search"), prefix_icon=ft.Icons.SEARCH)
    category = ft.Dropdown(
        label=t("catalogue.category"),
        options=[
            ft.DropdownOption(key=ALL, text=t("catalogue.all")),
            *(ft.DropdownOption(key=c, text=c) for c in categories),
        ],
        value=ALL,
        width=240,
    )
    count = ft.Text("", size=12)

    def fill(_e: Any = None) -> None:
        chosen = None if category.value in (None, ALL) else category.value
        found = browse(query.value or "", chosen)
        count.value = t("catalogue.count", count=len(found), synced=synced)
        results.controls = [
            ft.ListTile(
                title=ft.Semantics(content=ft.Text(p.name), identifier=f"product-{p.sku}"),
                subtitle=ft.Text(
                    f"{p.sku} · {p.category} · {t('accounts.in_stock') if p.in_stock else t('accounts.out_of_stock')}"
                ),
                trailing=ft.Semantics(
                    content=ft.Text(t.money(p.list_price_amount, p.currency), weight=ft.FontWeight.BOLD),
                    identifier=f"price-{p.sku}",
                ),
                dense=True,
            )
            for p in found
        ] or [ft.Text(t("catalogue.none"), italic=True)]

    query.on_change = fill
    category.on_select = fill
    fill()
    return ft.Column(
        [
            ft.Container(ft.Column([query, category], spacing=8), padding=ft.Padding.symmetric(horizontal=8)),
            ft.Container(count, padding=ft.Padding.symmetric(horizontal=12)),
            results,
        ],
        expand=True,
    )
