"""Leads from business-card QR codes (vCard, MeCard) and from a badge scanner's CSV export."""

from __future__ import annotations

import pytest

from app.lead_import import LeadDraft, parse_badge_csv, parse_mecard, parse_scanned, parse_vcards

VCARD = """BEGIN:VCARD
VERSION:3.0
N:Lefèvre;Camille;;;
FN:Camille Lefèvre
ORG:Boulangerie Lefèvre;Production
TITLE:Gérante
TEL;TYPE=CELL:+33 6 12 34 56 78
EMAIL:camille@boulangerie-lefevre.fr
NOTE:Vue au salon Sirha\\, stand B12
END:VCARD
BEGIN:VCARD
VERSION:2.1
FN:Marc Dubois
TEL:04 76 00 11 22
END:VCARD
"""


def test_every_card_of_a_vcard_text_becomes_a_draft() -> None:
    first, second = parse_vcards(VCARD)
    assert first == LeadDraft(
        first_name="Camille",
        last_name="Lefèvre",
        company="Boulangerie Lefèvre",
        email="camille@boulangerie-lefevre.fr",
        phone="+33 6 12 34 56 78",
        title="Gérante",
        notes="Vue au salon Sirha, stand B12",
    )
    assert (second.first_name, second.last_name, second.phone) == ("Marc", "Dubois", "04 76 00 11 22")


def test_a_mecard_with_escapes_becomes_a_draft() -> None:
    draft = parse_scanned(
        r"MECARD:N:Martin,Sophie;ORG:Café des Arts\; Lyon;TEL:+33478000000;EMAIL:s.martin@cafe-arts.fr;;"
    )
    assert draft == [
        LeadDraft(
            first_name="Sophie",
            last_name="Martin",
            company="Café des Arts; Lyon",
            email="s.martin@cafe-arts.fr",
            phone="+33478000000",
        )
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "not a vCard"),
        ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", "not a vCard"),
    ],
)
def test_what_is_not_a_card_says_so(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_scanned(text)
    with pytest.raises(ValueError, match="no N: \\(name\\) field"):
        parse_mecard("MECARD:TEL:123;;")


def test_a_badge_scanner_export_is_read_with_the_reps_mapping_and_bad_rows_are_named() -> None:
    # Semicolons and Latin-1, as a French scanner writes it; one row too long, one empty.
    data = (
        "Prénom;Nom;Société;Courriel;Téléphone;Badge\r\n"
        "Léa;Girard;Hôtel du Lac;lea@hotel-lac.fr;0450000000;A-1\r\n"
        "Paul;Roux;;;;;extra\r\n"
        ";;;;;A-3\r\n"
        "Nina;;Traiteur Nina;;;A-4\r\n"
    ).encode("latin-1")
    mapping = {
        "Prénom": "first_name",
        "Nom": "last_name",
        "Société": "company",
        "Courriel": "email",
        "Téléphone": "phone",
    }
    result = parse_badge_csv(data, mapping)
    assert result.columns == ["Prénom", "Nom", "Société", "Courriel", "Téléphone", "Badge"]
    assert result.drafts == [
        LeadDraft("Léa", "Girard", "Hôtel du Lac", "lea@hotel-lac.fr", "0450000000"),
        LeadDraft("Nina", None, "Traiteur Nina"),
    ]
    assert result.bad_rows == [(3, "more values than columns"), (4, "no name, company or e-mail")]


def test_a_mapping_that_does_not_fit_the_file_is_refused_whole() -> None:
    data = b"Name,Company\nAnn,ACME\n"
    assert parse_badge_csv(data, {"Email": "email"}).bad_rows == [(1, "missing columns: Email")]
    assert parse_badge_csv(data, {"Name": "salary"}).bad_rows == [(0, "columns mapped to no lead field: salary")]
    assert parse_badge_csv(b"x" * (5 * 1024 * 1024 + 1), {}).bad_rows == [(0, "the file is over 5 MB: split it")]
