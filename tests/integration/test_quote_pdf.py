"""The quote as a PDF: its text (read back with pypdf) holds the customer, every line, each VAT
rate and the totals as the rep's language writes them; `terrain quote pdf` writes it; a page is
rendered to an image (pypdfium2) for a person to look at."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from sqlmodel import Session, col, select

from app.i18n import Translator
from app.models import Account, Product, Quote, QuoteLine, TaxRate
from app.quote_pdf import quote_pdf
from app.quotes import create_quote, set_quote_status
from sync.engine import SyncEngine
from tests.integration.test_cli import terrain

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _text(pdf: bytes) -> str:
    """The PDF's text, spaces of every width made plain (Babel writes narrow no-break spaces)."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\u202f", " ").replace("\xa0", " ")


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def _quote_with_every_rate(device: SyncEngine) -> str:
    """A quote with a product of each VAT category, a line discount and a quote discount."""
    with Session(device.replica) as session:
        account = session.exec(select(Account).where(col(Account.billing_city).is_not(None))).first()
        assert account is not None
        rates = {r.category: r.rate_bp for r in session.exec(select(TaxRate))}
        lines = []
        for category in sorted(rates):
            product = session.exec(
                select(Product).where(Product.active, Product.tax_category == category).order_by(col(Product.sku))
            ).first()
            assert product is not None, category
            lines.append({"product_id": product.id, "quantity": 3, "discount_bp": 1000 if not lines else 0})
        quote = create_quote(
            session=session,
            account_id=account.id,
            lines=lines,
            discount_bp=500,
            valid_until=date(2026, 12, 31),
            notes="Livraison et mise en service comprises.",
        )
        return quote.id


def test_the_pdf_holds_the_customer_every_line_each_vat_rate_and_the_totals(alice: SyncEngine, tmp_path: Path) -> None:
    quote_id = _quote_with_every_rate(alice)
    alice.sync()  # the legal number comes from the server
    with Session(alice.replica) as session:
        quote = session.get(Quote, quote_id)
        assert quote is not None and quote.legal_number
        set_quote_status(session=session, quote_id=quote.id, status="accepted", signed_by="Anne Martin")
        quote = session.get(Quote, quote_id)
        assert quote is not None
        account = session.get(Account, quote.account_id)
        lines = session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id)).all()
        french, english = Translator("fr"), Translator("en")
        pdf = quote_pdf(session=session, quote=quote, t=french)
        pdf_en = quote_pdf(session=session, quote=quote, t=english)
    assert account is not None and len(lines) == 4
    text = _text(pdf)
    assert account.name in text and quote.legal_number in text and quote.provisional_number in text
    for line in lines:
        assert line.description in text
        assert _plain(french.money(line.net_amount, "EUR")) in text
    for rate in ("TVA 20 %", "TVA 10 %", "TVA 5,5 %", "TVA 2,1 %"):
        assert rate in text
    for amount in (quote.net_amount, quote.tax_amount, quote.gross_amount):
        assert _plain(french.money(amount, "EUR")) in text
    assert "Remise sur le devis (5 %)" in text and "Valable jusqu'au 31 déc. 2026" in text
    assert "Signé par Anne Martin".lower() in text.lower()
    english_text = _text(pdf_en)
    assert "VAT 5.5 %" in english_text and _plain(english.money(quote.gross_amount, "EUR")) in english_text
    # One page rendered for a person to look at (kept where the suite's screenshots go).
    page = pdfium.PdfDocument(pdf)[0]
    image = page.render(scale=1.5).to_pil()
    assert image.size == (round(595.28 * 1.5), round(841.89 * 1.5))
    shades = image.convert("L").getcolors(maxcolors=256 * 256) or []
    assert len(shades) > 16  # text, rules and the logo: not a blank page
    image.save(Path(os.environ.get("TERRAIN_E2E_SHOTS", tmp_path)) / "quote-page-1.png")


def test_terrain_quote_pdf_writes_the_file_by_number_and_says_so(alice: SyncEngine, tmp_path: Path) -> None:
    quote_id = _quote_with_every_rate(alice)
    with Session(alice.replica) as session:
        provisional = session.get(Quote, quote_id).provisional_number  # type: ignore[union-attr]
    out = tmp_path / "devis.pdf"
    done = terrain("quote", "pdf", provisional, "--out", str(out), data_dir=tmp_path / "alice")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"wrote quote {provisional} to {out}"
    text = _text(out.read_bytes())
    assert f"{provisional} (numéro provisoire)" in text  # not synced yet: no legal number
    missing = terrain("quote", "pdf", "Q-1999-000001", data_dir=tmp_path / "alice")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: no quote 'Q-1999-000001' on this device (an id, a legal or a provisional number)"
    )
