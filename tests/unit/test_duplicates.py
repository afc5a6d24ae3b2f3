"""Duplicate detection measured on a labelled set of pairs made from real company names
(tests/data/companies.txt): the same company written with accents dropped, a legal suffix, a
typo, other case or filler words, or only recognisable by its e-mail domain; and different
companies with the closest other name, or sharing only a free-mail domain. Precision and recall
are printed, and both must be at least 0.9."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path

import pytest

from app.duplicates import (
    Party,
    company_key,
    duplicate_reasons,
    email_domain,
    name_similarity,
    phone_key,
    siren_key,
)

NAMES = [
    line.strip()
    for line in (Path(__file__).parent.parent / "data" / "companies.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
SUFFIXES = ["SA", "SAS", "S.A.R.L.", "SARL", "GmbH", "Ltd", "S.A.", "& Cie", "Groupe"]


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _domain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _plain(name).lower()) + ".fr"


def _typo(name: str, rng: random.Random) -> str:
    """One slip of the finger in the longest word: a swap, a missing or a doubled letter."""
    words = name.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[longest]
    if len(word) < 6:
        return name
    at = rng.randrange(1, len(word) - 2)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    elif kind == "drop":
        word = word[:at] + word[at + 1 :]
    else:
        word = word[:at] + word[at] + word[at:]
    words[longest] = word
    return " ".join(words)


def _variant(name: str, rng: random.Random) -> str:
    kind = rng.choice(("accents", "suffix", "typo", "case", "suffix+typo"))
    if kind == "accents":
        return _plain(name) if _plain(name) != name else f"{name} {rng.choice(SUFFIXES)}"
    if kind == "suffix":
        return f"{name} {rng.choice(SUFFIXES)}"
    if kind == "typo":
        return _typo(name, rng)
    if kind == "case":
        return name.upper()
    return f"{_typo(name, rng)} {rng.choice(SUFFIXES)}"


def _labelled_pairs() -> list[tuple[Party, Party, bool]]:
    rng = random.Random(2026)
    pairs: list[tuple[Party, Party, bool]] = []
    for name in NAMES:
        domain = _domain(name)
        # The same company, its name written otherwise, the lead's e-mail a free-mail one.
        pairs.append((Party(name, f"contact@{domain}"), Party(_variant(name, rng), "j.martin@gmail.com"), True))
        # The closest other company: a different one (both with their own domain).
        other = max((n for n in NAMES if n != name), key=lambda n: name_similarity(name, n))
        pairs.append((Party(name, f"contact@{domain}"), Party(other, f"achats@{_domain(other)}"), False))
    for name in rng.sample(NAMES, 40):
        # Only the e-mail domain tells: the lead gave the initials of the company.
        initials = "".join(w[0] for w in re.split(r"[\s\-']+", _plain(name)) if w).upper() + " (salon)"
        pairs.append((Party(name, f"contact@{_domain(name)}"), Party(initials, f"p.durand@{_domain(name)}"), True))
        # Two people of different companies, both on gmail: nothing in common.
        other = rng.choice([n for n in NAMES if n != name])
        pairs.append((Party(name, "a.bernard@gmail.com"), Party(other, "c.petit@gmail.com"), False))
    return pairs


def test_precision_and_recall_on_a_labelled_set_of_real_company_names_are_at_least_0_9() -> None:
    pairs = _labelled_pairs()
    assert len(pairs) >= 300
    found = [(bool(duplicate_reasons(a, b)), same) for a, b, same in pairs]
    true_pos = sum(1 for said, same in found if said and same)
    false_pos = sum(1 for said, same in found if said and not same)
    false_neg = sum(1 for said, same in found if not said and same)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(  # noqa: T201 - the figures the issue asks for
        f"duplicates: {len(pairs)} pairs ({sum(s for *_, s in pairs)} same), "
        f"precision={precision:.3f} recall={recall:.3f} (false positives {false_pos}, false negatives {false_neg})"
    )
    assert precision >= 0.9 and recall >= 0.9


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Boulangerie Dupont & Fils, S.A.R.L.", "boulangerie dupont fils"),
        ("Société Générale SA", "SOCIETE GENERALE"),
        ("L'Oréal", "L'OREAL S.A."),
    ],
)
def test_accents_case_punctuation_and_legal_forms_do_not_count(a: str, b: str) -> None:
    assert company_key(a) == company_key(b)


def test_the_other_identifiers_are_normalised_before_they_are_compared() -> None:
    assert phone_key("06 12 34 56 78") == phone_key("+33 6 12 34 56 78") == "+33612345678"
    assert phone_key("12") is None and phone_key("") is None
    assert email_domain("Jean.Martin@Dupont-Boulangerie.FR") == "dupont-boulangerie.fr"
    assert email_domain("jean@gmail.com") is None  # shared by everyone: no clue
    # A SIREN, the SIRET of one of its sites, its VAT number: one company.
    assert siren_key("552 100 554") == siren_key("55210055400013") == siren_key("FR 96 552100554") == "552100554"
    assert siren_key("552100555") is None  # the check digit is wrong
    reasons = duplicate_reasons(
        Party("Dupont", "a@dupont.fr", "06 12 34 56 78", "552100554"),
        Party("Boulangerie Dupont", "a@dupont.fr", "+33612345678", "FR96552100554"),
    )
    assert reasons == ["siren", "email", "phone", "domain"]
