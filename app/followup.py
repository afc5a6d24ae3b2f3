"""Follow-up e-mails after an event: one draft per lead met there, in the lead's language, naming
the event, the products they asked about and the next step, for the rep to review and send.

Sending here only queues: each e-mail waits in the outbox for the network, then on the server for
its SMTP server (`server.mailer`), which records it as an activity and the campaign's response.

Only people who agreed to e-mails (`Contact.consent_email`) are written to: the others' drafts come
back held (`Draft.held_back`, with the reason) for the rep to see why, and are never queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from string import Template

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import Session, col, select

from app.edits import InvalidEdit, create_record
from app.models import Account, Activity, Campaign, Contact, EmailMessage, Product
from app.mutations import EmailCreate

__all__ = [
    "FRENCH_COUNTRIES",
    "NO_EMAIL_CONSENT",
    "TEMPLATES",
    "Draft",
    "audience_drafts",
    "compose",
    "emails_of",
    "event_drafts",
    "language_for",
    "send_drafts",
]

#: Why a draft is held back: the person has not agreed to e-mails (`Draft.held_back`).
NO_EMAIL_CONSENT = "no_email_consent"
#: What `send_drafts` says of a draft to someone without e-mail consent.
_NO_CONSENT_TEXT = "this person has not agreed to receive e-mails (no e-mail consent): not sent"
#: Where a customer is written to in French when the person's own language is not known.
FRENCH_COUNTRIES = frozenset({"FR", "BE", "CH", "LU", "MC"})

#: The follow-up's words by language; `$name`-style fields, filled by `compose`. The body is
#: made of the paragraphs that apply (products and next step only when there are some).
TEMPLATES: dict[str, dict[str, str]] = {
    "fr": {
        "subject_event": "Suite à notre rencontre sur $event",
        "subject": "Suite à notre échange",
        "greeting": "Bonjour $name,",
        "thanks_event": "Merci pour votre visite sur notre stand lors de $event$place, et pour notre échange.",
        "place": " ($place)",
        "thanks": "Merci pour notre récent échange.",
        "products": "Comme convenu, voici les produits dont nous avons parlé :",
        "next_step": "Prochaine étape : $next_step",
        "closing": "Je reste à votre disposition pour toute question.",
        "sign_off": "Bien cordialement,",
    },
    "en": {
        "subject_event": "Following up on our meeting at $event",
        "subject": "Following up on our conversation",
        "greeting": "Dear $name,",
        "thanks_event": "Thank you for visiting our stand at $event$place, and for our conversation.",
        "place": " ($place)",
        "thanks": "Thank you for our recent conversation.",
        "products": "As promised, here are the products we discussed:",
        "next_step": "Next step: $next_step",
        "closing": "Please let me know if you have any questions.",
        "sign_off": "Kind regards,",
    },
}


@dataclass(frozen=True, slots=True)
class Draft:
    """One follow-up e-mail as drafted, then as the rep edited it before sending; `held_back`
    says why it cannot be sent (NO_EMAIL_CONSENT), None when it can."""

    account_id: str
    account_name: str
    contact_id: str | None
    contact_name: str
    campaign_id: str | None
    to_address: str
    language: str
    subject: str
    body: str
    held_back: str | None = None


def language_for(contact_language: str | None, billing_country: str | None) -> str:
    """The language to write in: the person's own (French or else English), or else the one of
    the customer's country (French for France, Belgium, Switzerland, Luxembourg, Monaco)."""
    if contact_language:
        return "fr" if contact_language.lower().startswith("fr") else "en"
    return "fr" if (billing_country or "").upper() in FRENCH_COUNTRIES else "en"


def compose(
    language: str,
    *,
    contact_name: str,
    rep_name: str,
    event_name: str | None = None,
    place: str | None = None,
    products: Sequence[str] = (),
    next_step: str | None = None,
) -> tuple[str, str]:
    """The subject and body of a follow-up in `language` ("fr" or "en")."""
    words = TEMPLATES[language]

    def fill(key: str, **values: str) -> str:
        # One pass: a `$` in a name or a next step is written as it is, never substituted.
        return Template(words[key]).substitute(values)

    if event_name:
        subject = fill("subject_event", event=event_name)
        where = fill("place", place=place) if place else ""
        thanks = fill("thanks_event", event=event_name, place=where)
    else:
        subject, thanks = words["subject"], words["thanks"]
    paragraphs = [fill("greeting", name=contact_name), thanks]
    if products:
        paragraphs.append("\n".join([words["products"], *(f"- {name}" for name in products)]))
    if next_step and next_step.strip():
        paragraphs.append(fill("next_step", next_step=next_step.strip()))
    paragraphs.append(words["closing"])
    paragraphs.append("\n".join(p for p in (words["sign_off"], rep_name.strip()) if p))
    return subject, "\n\n".join(paragraphs) + "\n"


def _person(contact: Contact) -> str:
    return " ".join(p for p in (contact.first_name, contact.last_name) if p)


def _capture(session: Session, campaign_id: str, contact: Contact) -> tuple[list[str], str | None]:
    """The products the person asked about at the event (in the order noted, from every capture
    of them there) and the latest next step noted."""
    activities = session.exec(
        select(Activity)
        .where(Activity.campaign_id == campaign_id, Activity.account_id == contact.account_id)
        .order_by(col(Activity.occurred_at), col(Activity.id))
    ).all()
    product_ids: list[str] = []
    next_step = None
    for activity in activities:
        if activity.contact_id not in (None, contact.id):
            continue  # another person of the same company, met at the same event
        product_ids += [p for p in activity.product_ids or () if p not in product_ids]
        next_step = activity.next_step or next_step
    names = dict(session.exec(select(Product.id, Product.name).where(col(Product.id).in_(product_ids))).all())
    return [names[p] for p in product_ids if p in names], next_step


def _already_emailed(session: Session, campaign_id: str) -> set[str | None]:
    return set(session.exec(select(EmailMessage.contact_id).where(EmailMessage.campaign_id == campaign_id)).all())


def _draft(session: Session, contact: Contact, account: Account, campaign: Campaign | None, rep_name: str) -> Draft:
    language = language_for(contact.language, account.billing_country)
    products: list[str] = []
    next_step = None
    event = campaign if campaign is not None and campaign.channel == "trade_fair" else None
    if campaign is not None:
        products, next_step = _capture(session, campaign.id, contact)
    subject, body = compose(
        language,
        contact_name=_person(contact),
        rep_name=rep_name,
        event_name=event.name if event else None,
        place=event.place if event else None,
        products=products,
        next_step=next_step,
    )
    return Draft(
        account_id=account.id,
        account_name=account.name,
        contact_id=contact.id,
        contact_name=_person(contact),
        campaign_id=campaign.id if campaign else None,
        to_address=(contact.email or "").strip(),
        language=language,
        subject=subject,
        body=body,
        held_back=None if contact.consent_email else NO_EMAIL_CONSENT,
    )


def event_drafts(session: Session, campaign_id: str, rep_name: str) -> list[Draft]:
    """A follow-up for each person met at the event who has an e-mail address and was not
    e-mailed for it yet, by company then name; those without e-mail consent come back held."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return []
    done = _already_emailed(session, campaign_id)
    rows = session.exec(
        select(Contact, Account)
        .join(Account, col(Account.id) == col(Contact.account_id))
        .where(Contact.origin_campaign_id == campaign_id, col(Contact.email).is_not(None), Contact.email != "")
        .order_by(col(Account.name), col(Contact.last_name), col(Contact.first_name), col(Contact.id))
    ).all()
    return [
        _draft(session, contact, account, campaign, rep_name) for contact, account in rows if contact.id not in done
    ]


def audience_drafts(
    session: Session, account_ids: Iterable[str], rep_name: str, campaign_id: str | None = None
) -> list[Draft]:
    """A follow-up for each customer, to its primary contact with an e-mail address who agreed to
    e-mails (else its first such contact); customers with none are left out, and so are people
    already e-mailed for `campaign_id`. A customer whose people with an address all refused
    e-mails comes back held, to the one who would have been written to."""
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    done = _already_emailed(session, campaign_id) if campaign_id else set()
    drafts = []
    for account_id in dict.fromkeys(account_ids):
        account = session.get(Account, account_id)
        if account is None:
            continue
        contact = session.exec(
            select(Contact)
            .where(Contact.account_id == account_id, col(Contact.email).is_not(None), Contact.email != "")
            .order_by(col(Contact.consent_email).desc(), col(Contact.is_primary).desc(), col(Contact.id))
            .limit(1)
        ).first()
        if contact is not None and contact.id not in done:
            drafts.append(_draft(session, contact, account, campaign, rep_name))
    return drafts


def send_drafts(session: Session, drafts: Sequence[Draft], author_id: str | None) -> int:
    """Queue the e-mails as the rep edited them; all or none: a draft that cannot go (no subject,
    a bad address, a person who has not agreed to e-mails) is named and nothing is queued. The
    number queued."""
    fields: list[dict[str, str]] = []
    for draft in drafts:
        if draft.held_back or not _may_email(session, draft):
            raise InvalidEdit(f"{draft.contact_name or draft.account_name}: {_NO_CONSENT_TEXT}")
        values: dict[str, str | None] = {
            "account_id": draft.account_id,
            "contact_id": draft.contact_id,
            "campaign_id": draft.campaign_id,
            "to_address": draft.to_address.strip(),
            "language": draft.language,
            "subject": " ".join(draft.subject.split()),  # one line: it becomes a mail header
            "body": draft.body,
        }
        given = {k: v for k, v in values.items() if v is not None}
        try:
            EmailCreate.model_validate(given)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise InvalidEdit(f"{draft.contact_name or draft.account_name}: {problems}") from exc
        if session.get(Account, draft.account_id) is None:
            raise InvalidEdit(f"{draft.account_name}: this customer is no longer on this device")
        fields.append(given)
    for one in fields:
        create_record(session=session, entity="email_message", fields=dict(one), author_id=author_id)
    return len(fields)


def _may_email(session: Session, draft: Draft) -> bool:
    """Whether the person written to agreed to e-mails, as the replica says now: the person named,
    else every one of the customer's people with that address."""
    address = draft.to_address.strip().lower()
    if draft.contact_id is not None:
        contact = session.get(Contact, draft.contact_id)
        return contact is None or contact.consent_email
    people = session.exec(select(Contact.email, Contact.consent_email).where(Contact.account_id == draft.account_id))
    return all(consent for email, consent in people if (email or "").strip().lower() == address)


def _problem(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    return f"{'.'.join(map(str, error['loc']))}: {message}" if error["loc"] else message


def emails_of(session: Session, account_id: str) -> list[EmailMessage]:
    """The customer's e-mails, the latest first, with where each is (queued, sent, failed)."""
    return list(
        session.exec(
            select(EmailMessage)
            .where(EmailMessage.account_id == account_id)
            .order_by(col(EmailMessage.queued_at).desc(), col(EmailMessage.id).desc())
        ).all()
    )
