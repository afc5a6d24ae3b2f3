"""A quote as a PDF (fpdf2): the company's letterhead (assets/), the customer, the lines with
their discounts, VAT by rate, the totals, the validity date, the terms, the number (legal, or
provisional until the server gives one) and, once signed, who signed and when.

Amounts are written with Babel in the rep's language and the quote's currency; the text is set
in DejaVu Sans (assets/fonts), which has the euro sign and the narrow spaces French amounts use.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlmodel import Session, col, select

from app.i18n import Translator
from app.models import Account, Contact, Product, Quote, QuoteLine
from app.pricing import VatLine, vat_by_rate
from app.quotes import lines_in_order

__all__ = ["ASSETS", "Company", "QuoteNotFound", "find_quote", "quote_pdf"]

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FONT = "DejaVu"
TEAL = (0, 121, 107)
GREY = (90, 90, 90)


class QuoteNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Company:
    """The letterhead: assets/company.json and assets/logo.png."""

    name: str
    address: list[str]
    phone: str
    email: str
    website: str
    siren: str
    vat_number: str
    capital: str
    rcs: str
    iban: str
    terms: dict[str, str]
    logo: Path | None = None

    @classmethod
    def from_assets(cls, assets: Path = ASSETS) -> Company:
        data: dict[str, Any] = json.loads((assets / "company.json").read_text(encoding="utf-8"))
        logo = assets / "logo.png"
        return cls(**data, logo=logo if logo.exists() else None)


def find_quote(session: Session, text: str) -> Quote:
    """A quote by its id, legal number or provisional number."""
    quote = session.get(Quote, text)
    if quote is None:
        quote = session.exec(
            select(Quote).where((col(Quote.legal_number) == text) | (col(Quote.provisional_number) == text))
        ).first()
    if quote is None:
        raise QuoteNotFound(f"no quote {text!r} on this device (an id, a legal or a provisional number)")
    return quote


class _Pdf(FPDF):
    def __init__(self, t: Translator, company: Company, number: str) -> None:
        super().__init__(format="A4")
        self.t, self.company, self.number = t, company, number
        fonts = ASSETS / "fonts"
        self.add_font(FONT, "", str(fonts / "DejaVuSansCondensed.ttf"))
        self.add_font(FONT, "B", str(fonts / "DejaVuSansCondensed-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=22)
        self.set_margins(15, 15, 15)

    def header(self) -> None:
        c = self.company
        if c.logo is not None:
            self.image(str(c.logo), x=15, y=12, w=18)
        self.set_xy(36, 12)
        self.set_font(FONT, "B", 14)
        self.set_text_color(*TEAL)
        self.cell(0, 7, c.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(36)
        self.set_font(FONT, "", 8.5)
        self.set_text_color(*GREY)
        self.multi_cell(0, 4, "\n".join([", ".join(c.address), f"{c.phone} · {c.email} · {c.website}"]))
        self.set_text_color(0, 0, 0)
        self.set_draw_color(*TEAL)
        self.line(15, 33, 195, 33)
        self.set_y(37)

    def footer(self) -> None:
        c = self.company
        self.set_y(-18)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY)
        legal = (
            f"{c.name} · {self.t('pdf.capital', capital=c.capital)} · {c.rcs} · SIREN {c.siren} · TVA {c.vat_number}"
        )
        self.cell(0, 4, legal, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 4, f"{self.number} · {self.t('pdf.page', page=self.page_no())}", align="C", new_x=XPos.LMARGIN)


def quote_pdf(
    *, session: Session, quote: Quote, t: Translator, company: Company | None = None, today: date | None = None
) -> bytes:
    """The quote's PDF, in `t`'s language."""
    company = company or Company.from_assets()
    lines = lines_in_order(quote.id, list(session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id))))
    account = session.get(Account, quote.account_id)
    contact = session.get(Contact, quote.contact_id) if quote.contact_id else None
    skus = {
        p.id: p.sku
        for p in session.exec(select(Product).where(col(Product.id).in_([x.product_id for x in lines if x.product_id])))
    }
    number = quote.legal_number or t("pdf.provisional", number=quote.provisional_number)
    money = lambda amount: t.money(amount, quote.currency)  # noqa: E731 - a short local helper
    pdf = _Pdf(t, company, number)
    pdf.add_page()

    # Title, number and dates; the customer on the right.
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(95, 9, t("pdf.title"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 10.5)
    pdf.cell(95, 6, number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9.5)
    issued = quote.issued_on or today or date.today()
    facts = [t("pdf.issued", day=t.day(issued))]
    if quote.valid_until:
        facts.append(t("pdf.valid_until", day=t.day(quote.valid_until)))
    if quote.legal_number:
        facts.append(t("pdf.reference", number=quote.provisional_number))
    pdf.multi_cell(95, 5, "\n".join(facts), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    below_title = pdf.get_y()
    pdf.set_xy(115, top)
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.cell(80, 5, t("pdf.customer"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(80, 5.5, account.name if account else quote.account_id, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9.5)
    if account is not None:
        street = ", ".join(p for p in (account.billing_street,) if p)
        town = " ".join(p for p in (account.billing_postcode, account.billing_city) if p)
        country = "" if account.billing_country == "FR" else account.billing_country
        customer = [street, town, country]
        if account.vat_number:
            customer.append(f"TVA {account.vat_number}")
        if contact is not None:
            who = " ".join(p for p in (contact.first_name, contact.last_name) if p)
            customer.append(t("pdf.attention", name=who))
        pdf.multi_cell(80, 5, "\n".join(p for p in customer if p), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(below_title, pdf.get_y()) + 6)

    # The lines.
    pdf.set_font(FONT, "", 9)
    headings = [t(f"pdf.{name}") for name in ("sku", "description", "quantity", "unit_price", "discount", "vat", "net")]
    with pdf.table(
        col_widths=(22, 68, 14, 24, 16, 14, 24),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=_heading_style(),
        line_height=5.5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row(headings)
        for line in lines:
            table.row(
                [
                    skus.get(line.product_id or "", ""),
                    line.description,
                    t.number(line.quantity),
                    money(line.unit_price_amount),
                    t.rate(line.discount_bp) if line.discount_bp else "",
                    t.rate(line.tax_rate_bp),
                    money(line.net_amount),
                ]
            )
    pdf.ln(4)

    # VAT by rate on the left, the totals on the right.
    bases: dict[int, int] = {}
    for line in lines:
        bases[line.tax_rate_bp] = bases.get(line.tax_rate_bp, 0) + line.net_amount
    vat, discount_amount = vat_by_rate(bases, quote.discount_bp)
    start = pdf.get_y()
    _vat_table(pdf, t, vat, money)
    after_vat = pdf.get_y()
    pdf.set_y(start)
    rows: list[tuple[str, str, bool]] = []
    if quote.discount_bp:
        rows.append((t("pdf.lines_total"), money(sum(bases.values())), False))
        rows.append((t("pdf.quote_discount", rate=t.rate(quote.discount_bp)), "- " + money(discount_amount), False))
    rows += [
        (t("pdf.total_net"), money(quote.net_amount), False),
        (t("pdf.total_vat"), money(quote.tax_amount), False),
        (t("pdf.total_gross"), money(quote.gross_amount), True),
    ]
    for label, value, strong in rows:
        pdf.set_x(115)
        pdf.set_font(FONT, "B" if strong else "", 11 if strong else 9.5)
        pdf.cell(50, 6, label)
        pdf.cell(30, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(after_vat, pdf.get_y()) + 6)

    # Validity, terms, notes, signature.
    pdf.set_font(FONT, "", 8.5)
    if quote.valid_until:
        pdf.multi_cell(0, 4.5, t("pdf.validity", day=t.day(quote.valid_until)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if quote.notes:
        pdf.multi_cell(0, 4.5, quote.notes, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_font(FONT, "B", 8.5)
    pdf.cell(0, 4.5, t("pdf.terms"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 8)
    pdf.multi_cell(
        0, 4, company.terms.get(t.language) or company.terms.get("fr", ""), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.multi_cell(0, 4, f"IBAN {company.iban}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, "B", 9.5)
    if quote.signed_by and quote.signed_at:
        when = t.moment(quote.signed_at)
        pdf.cell(0, 5, t("pdf.signed", name=quote.signed_by, when=when), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if quote.signature_svg:
            pdf.image(io.BytesIO(quote.signature_svg.encode()), x=15, y=pdf.get_y() + 1, w=70)
    else:
        pdf.cell(0, 5, t("pdf.sign_here"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_draw_color(*GREY)
        pdf.rect(15, pdf.get_y() + 1, 80, 24)
    return bytes(pdf.output())


def _heading_style() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=TEAL)


def _vat_table(pdf: FPDF, t: Translator, vat: list[VatLine], money: Any) -> None:
    pdf.set_font(FONT, "B", 8.5)
    pdf.cell(30, 5.5, t("pdf.vat_rate"))
    pdf.cell(30, 5.5, t("pdf.vat_base"), align="R")
    pdf.cell(30, 5.5, t("pdf.vat_amount"), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 8.5)
    for line in vat:
        pdf.cell(30, 5, t("pdf.vat_line", rate=t.rate(line.rate_bp)))
        pdf.cell(30, 5, money(line.base_amount), align="R")
        pdf.cell(30, 5, money(line.tax_amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
