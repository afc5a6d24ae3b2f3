"""The quick lead form's checks, as the rep types: the e-mail (email-validator, offline), the
phone (phonenumbers), the SIREN, SIRET or VAT number (python-stdnum), and the customers already
in the replica that the lead may be (`app.duplicates`).

`DuplicateIndex` reads the replica's accounts and contacts once and normalises their
identifiers (phones to E.164, e-mail domains, SIRENs, company-name keys); each keystroke then
costs dictionary look-ups and one rapidfuzz pass over the name keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import process
from sqlmodel import Session

from app.duplicates import NAME_THRESHOLD, company_key, email_domain, key_similarity, phone_key, siren_key
from app.lead_import import LeadDraft
from app.models import Account, Contact, table_of

__all__ = ["DuplicateIndex", "DuplicateMatch", "LeadCheck", "check_lead"]


@dataclass(frozen=True, slots=True)
class LeadCheck:
    """The draft with its e-mail and phone normalised, and what to fix, by field."""

    draft: LeadDraft
    siren: str | None
    problems: dict[str, str]


def check_lead(draft: LeadDraft, *, company_id: str | None = None, region: str = "FR") -> LeadCheck:
    """Check a lead as typed; `company_id`: a SIREN, SIRET or VAT number if the rep has one."""
    problems: dict[str, str] = {}
    email = draft.email
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems["email"] = str(exc)
    phone = draft.phone
    if phone:
        phone = phone_key(phone, region)
        if phone is None:
            problems["phone"] = f"{draft.phone!r} is not a phone number"
            phone = draft.phone
    siren = None
    if company_id:
        siren = siren_key(company_id)
        if siren is None:
            problems["company_id"] = f"{company_id!r} is not a valid SIREN, SIRET or French VAT number"
    if not (draft.last_name or draft.company or draft.email):
        problems["last_name"] = "a lead needs a name, a company or an e-mail"
    return LeadCheck(replace(draft, email=email, phone=phone), siren, problems)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    account_id: str
    account_name: str
    reasons: list[str]  # "siren", "email", "phone", "domain", "name"
    name_score: float


def _website_domain(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    return host.removeprefix("www.") or None


class DuplicateIndex:
    """The replica's customers, ready to be matched against a lead as it is typed."""

    def __init__(self, session: Session) -> None:
        a, c = table_of(Account).c, table_of(Contact).c
        conn = session.connection()
        self.names: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.by: dict[str, dict[str, set[str]]] = {kind: {} for kind in ("siren", "email", "phone", "domain")}
        for account_id, name, email, phone, siren, website in conn.execute(
            sa.select(a.id, a.name, a.email, a.phone, a.siren, a.website)
        ):
            self.names[account_id] = name
            self.keys[account_id] = company_key(name)
            self._add(account_id, email=email, phones=(phone,), siren=siren)
            if (domain := _website_domain(website)) is not None:
                self.by["domain"].setdefault(domain, set()).add(account_id)
        for account_id, email, phone, mobile in conn.execute(sa.select(c.account_id, c.email, c.phone, c.mobile)):
            self._add(account_id, email=email, phones=(phone, mobile), siren=None)

    def _add(self, account_id: str, *, email: str | None, phones: tuple[str | None, ...], siren: str | None) -> None:
        if email:
            self.by["email"].setdefault(email.strip().lower(), set()).add(account_id)
            if (domain := email_domain(email)) is not None:
                self.by["domain"].setdefault(domain, set()).add(account_id)
        for phone in phones:
            if (key := phone_key(phone)) is not None:
                self.by["phone"].setdefault(key, set()).add(account_id)
        if (key := siren_key(siren)) is not None:
            self.by["siren"].setdefault(key, set()).add(account_id)

    def match(self, draft: LeadDraft, siren: str | None = None, limit: int = 5) -> list[DuplicateMatch]:
        """The customers the lead may be, the most likely first (most reasons, then name score)."""
        reasons: dict[str, list[str]] = {}
        lookups = {
            "siren": siren_key(siren),
            "email": draft.email.strip().lower() if draft.email else None,
            "phone": phone_key(draft.phone),
            "domain": email_domain(draft.email),
        }
        for kind, key in lookups.items():
            for account_id in self.by[kind].get(key, ()) if key else ():
                reasons.setdefault(account_id, []).append(kind)
        scores: dict[str, float] = {}
        if draft.company and (key := company_key(draft.company)):
            for _key, score, account_id in process.extract(
                key, self.keys, scorer=key_similarity, score_cutoff=NAME_THRESHOLD, limit=limit
            ):
                scores[account_id] = score
                reasons.setdefault(account_id, []).append("name")
        found = [
            DuplicateMatch(account_id, self.names.get(account_id, account_id), why, scores.get(account_id, 0.0))
            for account_id, why in reasons.items()
        ]
        found.sort(key=lambda m: (-len(m.reasons), -m.name_score, m.account_name))
        return found[:limit]
