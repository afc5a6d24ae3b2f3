"""Quotes on the screen: build one line by line with its totals as the server will price them,
read it back, send it, and have the customer sign it on the screen to accept it, offline.

The totals come from the pricing engine the server uses (`app.pricing`, through the device);
the signature pad keeps the strokes and hands them over as an SVG image (`app.signature`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import flet as ft
import flet.canvas as cv

from app.i18n import Translator
from app.models import Quote, QuoteLine
from app.pricing import LineIn, PricedDocument, PricingError
from app.services import ProductLine
from app.signature import signature_svg

__all__ = ["QuoteForm", "SignaturePad", "quote_form_page", "quote_page", "sign_page"]

PAD_WIDTH, PAD_HEIGHT = 480, 180


def _percent_bp(text: str | None) -> int:
    """A discount typed as a percentage (12,5 or 12.5) in basis points; ValueError if not one."""
    value = float((text or "0").strip().replace(",", ".").rstrip("%").strip() or "0")
    if not 0 <= value <= 100:
        raise ValueError(text)
    return round(value * 100)


@dataclass
class _Row:
    product: ProductLine
    quantity: ft.TextField
    discount: ft.TextField


class QuoteForm:
    """The lines (a product found by name or reference, its quantity and discount), the quote's
    discount and the totals, priced again at each change."""

    def __init__(
        self,
        t: Translator,
        *,
        search: Callable[[str], list[ProductLine]],
        price: Callable[[list[LineIn], int], PricedDocument],
    ) -> None:
        self.t, self.search, self.price = t, search, price
        self.rows: list[_Row] = []
        self.query = ft.TextField(label=t("quote.add_product"), prefix_icon=ft.Icons.SEARCH, on_change=self._find)
        self.found = ft.Row(wrap=True, spacing=4)
        self.table = ft.Column(spacing=4)
        self.discount = ft.TextField(
            label=t("quote.discount"), value="0", width=160, dense=True, on_change=lambda _e: self.refresh()
        )
        self.totals = ft.Text("", weight=ft.FontWeight.BOLD)
        self.vat = ft.Text("", size=12)
        self.error = ft.Text("", color=ft.Colors.ERROR)

    def _find(self, e: Any) -> None:
        text = (e.control.value or "").strip()
        self.found.controls = [
            ft.TextButton(f"+ {p.name} ({p.sku})", on_click=lambda _e, p=p: self.add(p))
            for p in (self.search(text) if text else [])
        ]

    def add(self, product: ProductLine) -> None:
        t = self.t
        self.rows.append(
            _Row(
                product,
                ft.TextField(label=t("quote.quantity"), value="1", width=170, on_change=lambda _e: self.refresh()),
                ft.TextField(
                    label=t("quote.line_discount"),
                    value="0",
                    width=110,
                    dense=True,
                    on_change=lambda _e: self.refresh(),
                ),
            )
        )
        self.query.value = ""
        self.found.controls = []
        self._draw_rows()
        self.refresh()

    def remove(self, row: _Row) -> None:
        self.rows.remove(row)
        self._draw_rows()
        self.refresh()

    def read(self) -> tuple[list[LineIn], int]:
        """The lines and the quote's discount; ValueError with what to fix."""
        lines = []
        for number, row in enumerate(self.rows, 1):
            try:
                quantity = int((row.quantity.value or "").strip())
                if quantity < 1:
                    raise ValueError
            except ValueError:
                raise ValueError(self.t("quote.bad_quantity", line=number)) from None
            try:
                discount = _percent_bp(row.discount.value)
            except ValueError:
                raise ValueError(self.t("quote.bad_discount", line=number)) from None
            lines.append(LineIn(row.product.id, quantity, discount))
        try:
            return lines, _percent_bp(self.discount.value)
        except ValueError:
            raise ValueError(self.t("quote.bad_quote_discount")) from None

    def _draw_rows(self) -> None:
        """The lines as shown: rebuilt when a line comes or goes only, never while the rep types
        (a field rebuilt under the cursor loses what is being typed)."""
        t = self.t
        for number, row in enumerate(self.rows, 1):  # each field named by its line, for a screen reader too
            row.quantity.label = t("quote.quantity_line", line=number)
            row.discount.label = t("quote.discount_line", line=number)
        self.table.controls = [
            ft.Column(
                [
                    ft.Text(f"{number}. {row.product.name} ({row.product.sku})", weight=ft.FontWeight.BOLD),
                    ft.Row(
                        [
                            row.quantity,
                            row.discount,
                            ft.IconButton(
                                ft.Icons.DELETE, tooltip=t("quote.remove"), on_click=lambda _e, r=row: self.remove(r)
                            ),
                        ],
                        wrap=True,
                    ),
                ],
                spacing=8,
            )
            for number, row in enumerate(self.rows, 1)
        ]

    def refresh(self) -> None:
        """The totals priced again (or what to fix)."""
        t = self.t
        self.error.value = ""
        if not self.rows:
            self.totals.value, self.vat.value = t("quote.empty"), ""
            return
        try:
            lines, discount = self.read()
            priced = self.price(lines, discount)
        except (ValueError, PricingError) as exc:
            self.error.value = str(exc)
            return

        def money(amount: int) -> str:
            return t.money(amount, priced.currency)

        self.totals.value = t(
            "quote.totals",
            net=money(priced.net_amount),
            tax=money(priced.tax_amount),
            gross=money(priced.gross_amount),
        )
        self.vat.value = " · ".join(
            t("quote.vat_line", rate=t.rate(v.rate_bp), amount=money(v.tax_amount)) for v in priced.vat
        )

    def controls(self) -> list[ft.Control]:
        return [
            self.query,
            self.found,
            self.table,
            self.discount,
            ft.Semantics(content=self.totals, identifier="quote-totals"),
            self.vat,
            self.error,
        ]


def quote_form_page(
    t: Translator, account_name: str, form: QuoteForm, on_save: Callable[[], None], on_back: Callable[[], None]
) -> ft.Control:
    form.refresh()
    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("quote.new_for", account=account_name), size=20, weight=ft.FontWeight.BOLD),
            *form.controls(),
            ft.Row([ft.Button(t("quote.save"), icon=ft.Icons.SAVE, on_click=lambda _e: on_save())]),
        ],
        expand=True,
        spacing=10,
        padding=12,
    )


def quote_page(
    t: Translator,
    quote: Quote,
    lines: list[QuoteLine],
    account_name: str,
    *,
    on_pdf: Callable[[], Awaitable[None]],
    on_order: Callable[[], None],
    on_send: Callable[[], None],
    on_sign: Callable[[], None],
    on_back: Callable[[], None],
) -> ft.Control:
    def money(amount: int) -> str:
        return t.money(amount, quote.currency)

    number = quote.legal_number or t("quote.provisional", number=quote.provisional_number)
    state = t(f"quote.status_{quote.status}")
    if quote.approval:
        state += " · " + t(f"quote.approval_{quote.approval}")
    if quote.signed_by:
        state += " · " + t("quote.signed_by", name=quote.signed_by)
    if quote.valid_until and quote.status in ("draft", "sent"):
        state += " · " + t("pdf.valid_until", day=t.day(quote.valid_until))
    rows: list[ft.Control] = [
        ft.Text(
            f"{line.quantity} × {line.description} · {money(line.unit_price_amount)}"
            + (f" − {t.rate(line.discount_bp)}" if line.discount_bp else "")
            + f" = {money(line.net_amount)}",
            size=13,
        )
        for line in lines
    ]

    async def pdf(_e: Any) -> None:
        await on_pdf()

    actions: list[ft.Control] = [ft.OutlinedButton("PDF", icon=ft.Icons.PICTURE_AS_PDF, on_click=pdf)]
    if quote.status == "draft" and quote.approval not in ("needed", "refused"):
        actions.append(ft.OutlinedButton(t("quote.send"), icon=ft.Icons.SEND, on_click=lambda _e: on_send()))
    if quote.status in ("draft", "sent") and quote.approval not in ("needed", "refused"):
        actions.append(ft.Button(t("quote.sign"), icon=ft.Icons.DRAW, on_click=lambda _e: on_sign()))
    if quote.status == "accepted":
        actions.append(ft.Button(t("quote.order"), icon=ft.Icons.SHOPPING_CART, on_click=lambda _e: on_order()))
    discount = [ft.Text(t("quote.quote_discount", rate=t.rate(quote.discount_bp)))] if quote.discount_bp else []
    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Semantics(
                content=ft.Text(f"{number} · {account_name}", size=20, weight=ft.FontWeight.BOLD),
                identifier="quote-number",
            ),
            ft.Semantics(content=ft.Text(state), identifier="quote-status"),
            *rows,
            *discount,
            ft.Text(
                t(
                    "quote.totals",
                    net=money(quote.net_amount),
                    tax=money(quote.tax_amount),
                    gross=money(quote.gross_amount),
                ),
                weight=ft.FontWeight.BOLD,
            ),
            ft.Row(actions, wrap=True),
        ],
        expand=True,
        spacing=10,
        padding=12,
    )


class SignaturePad:
    """A box to sign in with a finger or a mouse; the strokes drawn, as points in the box."""

    def __init__(self) -> None:
        self.strokes: list[list[tuple[float, float]]] = []
        self.canvas = cv.Canvas(shapes=[], width=PAD_WIDTH, height=PAD_HEIGHT)
        self.control = ft.Semantics(
            identifier="signature-pad",
            content=ft.Container(
                ft.GestureDetector(
                    content=self.canvas,
                    on_pan_start=self._start,
                    on_pan_update=self._draw,
                    drag_interval=10,
                ),
                width=PAD_WIDTH,
                height=PAD_HEIGHT,
                bgcolor=ft.Colors.WHITE,
                border=ft.Border.all(1, ft.Colors.OUTLINE),
                border_radius=6,
            ),
        )

    def _start(self, e: ft.DragStartEvent[Any]) -> None:
        self.strokes.append([(e.local_position.x, e.local_position.y)])

    def _draw(self, e: ft.DragUpdateEvent[Any]) -> None:
        if not self.strokes:
            self.strokes.append([])
        stroke = self.strokes[-1]
        point = (e.local_position.x, e.local_position.y)
        if stroke:
            x, y = stroke[-1]
            self.canvas.shapes.append(
                cv.Line(x, y, point[0], point[1], paint=ft.Paint(stroke_width=2.5, color=ft.Colors.INDIGO_900))
            )
            self.canvas.update()
        stroke.append(point)

    def clear(self) -> None:
        self.strokes.clear()
        self.canvas.shapes.clear()

    def svg(self) -> str:
        return signature_svg(self.strokes, PAD_WIDTH, PAD_HEIGHT)


def sign_page(
    t: Translator,
    quote: Quote,
    on_accept: Callable[[str, str], str | None],
    on_back: Callable[[], None],
) -> ft.Control:
    """`on_accept(signer, svg)` returns what went wrong, or None once the quote is accepted."""
    pad = SignaturePad()
    signer = ft.TextField(label=t("quote.signer"), width=320)
    error = ft.Text("", color=ft.Colors.ERROR)

    def accept(_e: Any) -> None:
        try:
            svg = pad.svg()
        except ValueError:
            error.value = t("quote.sign_first")
            return
        error.value = on_accept(signer.value or "", svg) or ""

    def clear(_e: Any) -> None:
        pad.clear()

    money = t.money(quote.gross_amount, quote.currency)
    return ft.ListView(
        [
            ft.Row([ft.TextButton(t("card.back"), icon=ft.Icons.ARROW_BACK, on_click=lambda _e: on_back())]),
            ft.Text(t("quote.sign_title", total=money), size=20, weight=ft.FontWeight.BOLD),
            ft.Text(t("quote.sign_help")),
            signer,
            pad.control,
            ft.Row(
                [
                    ft.TextButton(t("quote.clear"), icon=ft.Icons.CLEAR, on_click=clear),
                    ft.Button(t("quote.accept"), icon=ft.Icons.CHECK, on_click=accept),
                ]
            ),
            error,
        ],
        expand=True,
        spacing=10,
        padding=12,
    )
