"""Leads from what a trade fair hands a rep: the vCard or MeCard text a business card's QR code
carries, and the CSV export of a badge scanner, whose columns the rep maps once per event.

Each gives `LeadDraft`s for the quick lead form, which checks them (e-mail, phone, duplicates)
before anything is saved; a row that cannot be read is reported with its line and the reason.
A scanner's consent (opt-in) column gives the person's e-mail consent: only a clear yes counts.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import vobject

__all__ = [
    "LEAD_FIELDS",
    "MAX_CSV_BYTES",
    "BadgeImport",
    "LeadDraft",
    "consent_given",
    "guess_mapping",
    "parse_badge_csv",
    "parse_mecard",
    "parse_scanned",
    "parse_vcards",
]

#: What a draft holds, and what a badge scanner's columns can be mapped to.
LEAD_FIELDS = ("first_name", "last_name", "company", "email", "phone", "title", "notes", "consent_email")
#: The largest badge-scanner export read at once.
MAX_CSV_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LeadDraft:
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    notes: str | None = None
    #: Whether the person agreed to be followed up by e-mail: True only when they said so (the
    #: quick form's box, a scanner's opt-in column saying yes); None when nothing said it.
    consent_email: bool | None = None


#: What a scanner's consent column holds when the person said yes (compared without case or accents).
_YES = frozenset({"oui", "o", "yes", "y", "true", "vrai", "1", "x", "ok", "opt in", "optin", "accepte", "d accord"})


def consent_given(value: str | None) -> bool:
    """Whether a consent (opt-in) cell says yes; anything else (no, empty, unclear) is no."""
    return _plain(value or "") in _YES


def _clean(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def parse_vcards(text: str) -> list[LeadDraft]:
    """Every card of a vCard text (2.1, 3.0 or 4.0). ValueError when it is not vCard."""
    try:
        cards = list(vobject.readComponents(text))
    except Exception as exc:  # vobject raises its own errors and a few of Python's
        raise ValueError(f"not a vCard: {exc}") from None
    drafts = []
    for card in cards:
        if card.name != "VCARD":
            continue
        first = last = None
        if hasattr(card, "n"):
            first, last = _clean(card.n.value.given), _clean(card.n.value.family)
        if last is None and hasattr(card, "fn"):
            *given, family = str(card.fn.value).split() or [""]
            first, last = first or _clean(" ".join(given)), _clean(family)
        org = card.org.value if hasattr(card, "org") else None
        drafts.append(
            LeadDraft(
                first_name=first,
                last_name=last,
                company=_clean(org[0] if isinstance(org, list) and org else org),
                email=_clean(card.email.value) if hasattr(card, "email") else None,
                phone=_clean(card.tel.value) if hasattr(card, "tel") else None,
                title=_clean(card.title.value) if hasattr(card, "title") else None,
                notes=_clean(card.note.value) if hasattr(card, "note") else None,
            )
        )
    if not drafts:
        raise ValueError("not a vCard: no BEGIN:VCARD ... END:VCARD in the text")
    return drafts


_MECARD_FIELD = re.compile(r"((?:\\.|[^;\\])*);")


def parse_mecard(text: str) -> LeadDraft:
    """A MeCard (`MECARD:N:Doe,John;ORG:ACME;TEL:...;EMAIL:...;;`). ValueError when it is not one."""
    body = text.strip()
    if not body.upper().startswith("MECARD:"):
        raise ValueError("not a MeCard: it starts with MECARD:")
    values: dict[str, str] = {}
    for raw in _MECARD_FIELD.findall(body[len("MECARD:") :] + ";"):
        if ":" not in raw:
            continue
        key, value = raw.split(":", 1)
        value = re.sub(r"\\(.)", r"\1", value)  # \; \: \, \\ stand for themselves
        values.setdefault(key.strip().upper(), value)
    if "N" not in values:
        raise ValueError("not a MeCard: no N: (name) field")
    family, _comma, given = values["N"].partition(",")
    return LeadDraft(
        first_name=_clean(given),
        last_name=_clean(family),
        company=_clean(values.get("ORG")),
        email=_clean(values.get("EMAIL")),
        phone=_clean(values.get("TEL")),
        title=_clean(values.get("TITLE")),
        notes=_clean(values.get("NOTE")),
    )


def parse_scanned(text: str) -> list[LeadDraft]:
    """What a business card's QR code gave: a MeCard or vCards."""
    if text.lstrip().upper().startswith("MECARD:"):
        return [parse_mecard(text)]
    return parse_vcards(text)


@dataclass
class BadgeImport:
    drafts: list[LeadDraft] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    columns: list[str] = field(default_factory=list)


def parse_badge_csv(data: bytes, mapping: Mapping[str, str]) -> BadgeImport:
    """A badge scanner's CSV export, its columns mapped to lead fields (`{"Nom": "last_name",
    ...}`; columns not mapped are left out). The delimiter is the one the header line is cut by (`,` `;` or tab); the
    text may be UTF-8 (with or without BOM) or Latin-1, as scanners write it."""
    result = BadgeImport()
    if len(data) > MAX_CSV_BYTES:
        result.bad_rows.append((0, f"the file is over {MAX_CSV_BYTES // (1024 * 1024)} MB: split it"))
        return result
    unknown = sorted(set(mapping.values()) - set(LEAD_FIELDS))
    if unknown:
        result.bad_rows.append((0, f"columns mapped to no lead field: {', '.join(unknown)}"))
        return result
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)  # the one the header line is cut by
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    result.columns = list(reader.fieldnames or [])
    missing = sorted(set(mapping) - set(result.columns))
    if missing:
        result.bad_rows.append((1, f"missing columns: {', '.join(missing)}"))
        return result
    try:
        for row in reader:
            if None in row:
                result.bad_rows.append((reader.line_num, "more values than columns"))
                continue
            values: dict[str, str | bool | None] = {}
            for column, field_name in mapping.items():
                cell = _clean(row.get(column))
                values[field_name] = consent_given(cell) if field_name == "consent_email" else cell
            draft = replace(LeadDraft(), **values)  # type: ignore[arg-type]
            if not (draft.last_name or draft.company or draft.email):
                result.bad_rows.append((reader.line_num, "no name, company or e-mail"))
                continue
            result.drafts.append(draft)
    except csv.Error as exc:
        result.bad_rows.append((reader.line_num, f"unreadable CSV: {exc}"))
    return result


#: Column names badge scanners use for each lead field (compared without case, accents or punctuation).
_COLUMN_NAMES = {
    "first_name": ("prenom", "firstname", "first name", "given name", "forename"),
    "last_name": ("nom", "lastname", "last name", "surname", "family name", "nom de famille"),
    "company": ("societe", "entreprise", "company", "organisation", "organization", "raison sociale", "company name"),
    "email": ("email", "e mail", "mail", "courriel", "adresse email", "email address"),
    "phone": ("telephone", "tel", "phone", "mobile", "portable", "phone number", "gsm"),
    "title": ("fonction", "poste", "title", "job title", "position", "job"),
    "notes": ("notes", "note", "commentaire", "commentaires", "comments", "comment", "remarques"),
    "consent_email": ("consent", "consentement", "opt in", "optin", "rgpd", "gdpr", "recontacte", "recontact"),
}
#: For consent, a column whose name holds one of its names ("Consentement RGPD", "E-mail opt-in")...
_CONTAINED = frozenset({"consent_email"})
#: ... unless it is another channel's consent ("SMS opt-in", "Consentement téléphone").
_OTHER_CHANNELS = frozenset({"sms", "telephone", "phone", "tel", "appel", "call", "courrier", "postal", "post"})


def _holds(plain: str, names: tuple[str, ...]) -> bool:
    words = plain.split()
    if _OTHER_CHANNELS.intersection(words):
        return False
    return any(f" {name} " in f" {plain} " for name in names)


def _plain(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """A first mapping of a scanner's columns to lead fields, from the columns' usual names; the
    rep corrects it once per event. Each field gets at most one column."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        plain = _plain(column)
        for field_name, names in _COLUMN_NAMES.items():
            if field_name in taken:
                continue
            if plain in names or (field_name in _CONTAINED and _holds(plain, names)):
                mapping[column] = field_name
                taken.add(field_name)
                break
    return mapping
