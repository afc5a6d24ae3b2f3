"""Is this lead someone we already have? The checks a rep needs as they type at a trade fair:
the same e-mail, the same phone, the same SIREN, the same company e-mail domain, or a company
name that is close once accents, case, punctuation and legal suffixes are set aside.

`company_key` reduces a name to what tells companies apart ("Boulangerie Dupont SARL" and
"boulangerie dupont" give the same key); `same_company` compares two names with rapidfuzz on
those keys; `phone_key`, `email_domain` and `siren_key` normalise the other identifiers with
phonenumbers and python-stdnum.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
from rapidfuzz import fuzz
from stdnum.exceptions import ValidationError
from stdnum.fr import siren, siret, tva

__all__ = [
    "FREE_MAIL_DOMAINS",
    "Party",
    "duplicate_reasons",
    "LEGAL_SUFFIXES",
    "NAME_THRESHOLD",
    "company_key",
    "email_domain",
    "key_similarity",
    "name_similarity",
    "phone_key",
    "same_company",
    "siren_key",
    "website_domain",
]

#: Legal forms and their spellings, dropped from a company name before comparing.
LEGAL_SUFFIXES = frozenset(
    """sa sas sasu sarl eurl snc sci scop scp selarl sca gie ei eirl earl gaec sem
    gmbh ag kg ohg ug ltd limited plc llc llp inc incorporated corp corporation co company
    bv nv bvba sprl srl spa sl slu oy ab as aps asa kk pty""".split()
)
#: Words that say nothing of which company it is ("et", "the", "&", "cie"...).
_FILLER = frozenset("et and und the le la les l de des du d cie compagnie company group groupe".split())
#: E-mail domains shared by people of unrelated companies: no clue to a company.
FREE_MAIL_DOMAINS = frozenset(
    """gmail.com googlemail.com yahoo.com yahoo.fr hotmail.com hotmail.fr outlook.com outlook.fr live.com
    live.fr msn.com icloud.com me.com aol.com orange.fr wanadoo.fr free.fr sfr.fr laposte.net bbox.fr
    neuf.fr gmx.fr gmx.de gmx.net web.de proton.me protonmail.com""".split()
)
#: A name similarity (0-100) at or above this is the same company.
NAME_THRESHOLD = 88.0

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def company_key(name: str) -> str:
    """The words of a company name that tell it apart: no accents, case, punctuation, legal
    form or filler word ("Boulangerie  Dupont & Fils, S.A.R.L." -> "boulangerie dupont fils")."""
    text = _ascii(name)
    text = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", text)  # s.a.r.l. -> sarl, s.a. -> sa
    text = re.sub(r"\b([a-z])\.([a-z])\.?(?![a-z])", r"\1\2", text)
    words = [w for w in _NOT_WORD.split(text) if w]
    kept = [w for w in words if w not in LEGAL_SUFFIXES and w not in _FILLER]
    return " ".join(kept or words)


def name_similarity(a: str, b: str) -> float:
    """How alike two company names are, 0 to 100, on their keys: the best of the whole-string
    ratio and the word-order-free ratio (typos and swapped words both count as close)."""
    return key_similarity(company_key(a), company_key(b))


def key_similarity(key_a: str, key_b: str, **_kwargs: object) -> float:
    """`name_similarity` of two names already reduced by `company_key` (a rapidfuzz scorer)."""
    if not key_a or not key_b:
        return 0.0
    if key_a == key_b:
        return 100.0
    return max(fuzz.ratio(key_a, key_b), fuzz.token_sort_ratio(key_a, key_b))


def same_company(a: str, b: str, threshold: float = NAME_THRESHOLD) -> bool:
    return name_similarity(a, b) >= threshold


def phone_key(number: str | None, region: str = "FR") -> str | None:
    """The number in E.164 form (+33612345678), or None when it is not a possible number."""
    if not number or not number.strip():
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_domain(email: str | None) -> str | None:
    """The company part of an e-mail address, or None for a free-mail one (gmail.com...)."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return None if not domain or domain in FREE_MAIL_DOMAINS else domain


def website_domain(url: str | None) -> str | None:
    """The company domain of a website ("https://www.dupont.fr/contact" -> dupont.fr), or None
    for a host without a dot, a free-mail one, or what no URL parser reads ("http://[dupont")."""
    if not url or not url.strip():
        return None
    text = url.strip()
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    except ValueError:  # an unclosed "[" (an IPv6 host), a port out of range
        return None
    host = host.removeprefix("www.").rstrip(".")
    return host if "." in host and host not in FREE_MAIL_DOMAINS else None


def siren_key(identifier: str | None) -> str | None:
    """The SIREN of a SIREN, a SIRET or a French VAT number, or None when it is not a valid one."""
    if not identifier:
        return None
    compact = re.sub(r"[\s.\-]", "", identifier).upper()
    # (validator, where the SIREN sits in what it returns): a SIREN, a SIRET's first nine
    # digits, a VAT number's last nine.
    for check, start in ((siren.validate, 0), (siret.validate, 0), (tva.validate, -9)):
        try:
            valid = str(check(compact))
        except ValidationError:
            continue
        return valid[start:][:9]
    return None


@dataclass(frozen=True, slots=True)
class Party:
    """A lead or an account as the checks see it."""

    name: str
    email: str | None = None
    phone: str | None = None
    siren: str | None = None


def duplicate_reasons(a: Party, b: Party) -> list[str]:
    """Why `a` and `b` look like the same company, strongest first: "siren", "email", "phone",
    "domain" (the same company e-mail domain), "name" (close names); empty if nothing."""
    reasons = []
    if (key := siren_key(a.siren)) is not None and key == siren_key(b.siren):
        reasons.append("siren")
    if a.email and b.email and a.email.strip().lower() == b.email.strip().lower():
        reasons.append("email")
    if (key := phone_key(a.phone)) is not None and key == phone_key(b.phone):
        reasons.append("phone")
    if (key := email_domain(a.email)) is not None and key == email_domain(b.email):
        reasons.append("domain")
    if same_company(a.name, b.name):
        reasons.append("name")
    return reasons
