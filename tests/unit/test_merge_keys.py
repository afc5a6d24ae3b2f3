"""The keys the server indexes an account by, to find a lead's other accounts (`server.merges`)."""

from __future__ import annotations

from app.duplicates import website_domain
from server.merges import account_keys, name_prefixes


def test_an_account_is_indexed_by_its_identifiers_as_the_duplicate_checks_compare_them() -> None:
    keys = account_keys(
        name="Boulangerie Dupont & Fils, S.A.R.L.",
        legal_ids=("732 829 320 00074", "FR40303265045", "not a siren", None),
        emails=(" Jean.Dupont@Boulangerie-Dupont.fr ", "marie.dupont@gmail.com", "", None),
        phones=("04 78 12 34 56", "+33 4 78 12 34 56", "12", None),
        websites=("https://www.boulangerie-dupont.fr/contact", "gmail.com", "localhost", None),
    )
    assert keys == {
        ("name", "boulangerie dupont fils"),
        ("nametok", "boul"),
        ("nametok", "dupo"),
        ("nametok", "fils"),
        ("siren", "732829320"),  # a SIRET's first nine digits
        ("siren", "303265045"),  # a VAT number's last nine
        ("email", "jean.dupont@boulangerie-dupont.fr"),
        ("email", "marie.dupont@gmail.com"),  # the address itself still tells the person
        ("domain", "boulangerie-dupont.fr"),  # gmail.com is no company's domain
        ("phone", "+33478123456"),
    }


def test_close_names_share_a_word_prefix() -> None:
    assert name_prefixes("boulangerie dupont") == name_prefixes("boulangerie dupond") == {"boul", "dupo"}
    assert name_prefixes("cave st vincent") == {"cave", "vinc"}  # "st" is too short to pick by
    assert name_prefixes("ab") == {"ab"}  # a name of short words is picked by itself
    assert name_prefixes("") == set()


def test_a_website_no_url_parser_reads_gives_no_domain_and_the_rest_is_still_indexed() -> None:
    # urlsplit raises on an unclosed "[" (an IPv6 host): a push bringing it was a 500 for ever.
    assert website_domain("http://[boulangerie-dupont.fr") is None
    assert website_domain("[www.boulangerie-dupont.fr]") is None
    assert website_domain(" https://www.Boulangerie-Dupont.fr/contact ") == "boulangerie-dupont.fr"
    assert account_keys(name="Boulangerie Dupont", websites=("http://[boulangerie-dupont.fr",)) == {
        ("name", "boulangerie dupont"),
        ("nametok", "boul"),
        ("nametok", "dupo"),
    }
