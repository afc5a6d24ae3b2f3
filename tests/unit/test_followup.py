"""Follow-up e-mails after an event: drafted in the lead's language with the event, the products
asked about and the next step; people already e-mailed for the event are left out, and people who
have not agreed to e-mails are held back with the reason; the screen queues the ticked e-mails as
the rep edited them and lists the held-back ones apart (on a real replica file)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.edits import InvalidEdit
from app.followup import (
    NO_EMAIL_CONSENT,
    Draft,
    audience_drafts,
    compose,
    emails_of,
    event_drafts,
    language_for,
    send_drafts,
)
from app.i18n import Translator
from app.models import Account, Activity, Campaign, Contact, EmailMessage, Product
from app.replica import open_replica
from sync.state import OutboxEntry, create_sync_tables
from views.followup import FollowupForm, followup_page

MET = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_the_french_follow_up_names_the_person_the_event_the_products_and_the_next_step() -> None:
    subject, body = compose(
        "fr",
        contact_name="Anne Martin",
        rep_name="Alice Durand",
        event_name="Batimat 2026",
        place="Paris Expo",
        products=["Perceuse P18", "Visseuse V12"],
        next_step="Démonstration sur chantier en janvier",
    )
    assert subject == "Suite à notre rencontre sur Batimat 2026"
    assert body == (
        "Bonjour Anne Martin,\n\n"
        "Merci pour votre visite sur notre stand lors de Batimat 2026 (Paris Expo), et pour notre échange.\n\n"
        "Comme convenu, voici les produits dont nous avons parlé :\n- Perceuse P18\n- Visseuse V12\n\n"
        "Prochaine étape : Démonstration sur chantier en janvier\n\n"
        "Je reste à votre disposition pour toute question.\n\n"
        "Bien cordialement,\nAlice Durand\n"
    )


def test_the_english_follow_up_leaves_out_what_was_not_noted() -> None:
    subject, body = compose("en", contact_name="John Smith", rep_name="Alice Durand", event_name="Batimat 2026")
    assert subject == "Following up on our meeting at Batimat 2026"
    assert body == (
        "Dear John Smith,\n\n"
        "Thank you for visiting our stand at Batimat 2026, and for our conversation.\n\n"
        "Please let me know if you have any questions.\n\n"
        "Kind regards,\nAlice Durand\n"
    )


def test_a_dollar_in_what_the_rep_typed_is_written_as_it_is() -> None:
    _subject, body = compose("en", contact_name="$name Ltd", rep_name="A", next_step="Quote in $USD ${x}")
    assert "Dear $name Ltd," in body and "Next step: Quote in $USD ${x}" in body


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        ("en", "FR", "en"),  # the person's own language first
        ("fr-BE", "GB", "fr"),
        ("de", "CH", "en"),  # no German template: English
        (None, "FR", "fr"),
        (None, "be", "fr"),
        (None, "CH", "fr"),
        (None, "LU", "fr"),
        (None, "MC", "fr"),
        (None, "DE", "en"),
        (None, "GB", "en"),
        (None, None, "en"),
    ],
)
def test_the_language_is_the_persons_else_the_customers_countrys(
    language: str | None, country: str | None, expected: str
) -> None:
    assert language_for(language, country) == expected


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Engine]:
    engine = open_replica(tmp_path / "device")
    create_sync_tables(engine)
    yield engine
    engine.dispose()


def _fair(session: Session) -> dict[str, str]:
    """An event with three people met there (one without an e-mail), one met elsewhere."""
    fair = Campaign(name="Batimat 2026", channel="trade_fair", place="Paris Expo")
    other = Campaign(name="Salon de Lyon", channel="trade_fair")
    drill = Product(sku="P18", name="Perceuse P18", category="outils", list_price_amount=12_900)
    screw = Product(sku="V12", name="Visseuse V12", category="outils", list_price_amount=8_900)
    french = Account(name="Menuiserie Roux", billing_country="FR", origin="trade_fair", origin_campaign_id=fair.id)
    british = Account(name="Oak & Sons", billing_country="GB", origin="trade_fair", origin_campaign_id=fair.id)
    anne = Contact(
        account_id=french.id,
        first_name="Anne",
        last_name="Roux",
        email="anne@roux.fr",
        origin_campaign_id=fair.id,
        consent_email=True,
    )
    paul = Contact(account_id=french.id, first_name="Paul", last_name="Roux", origin_campaign_id=fair.id)
    john = Contact(
        account_id=british.id,
        first_name="John",
        last_name="Oak",
        email="john@oak.co.uk",
        language="en",
        origin_campaign_id=fair.id,
        consent_email=True,
    )
    lyon = Contact(
        account_id=british.id,
        last_name="Elsewhere",
        email="x@oak.co.uk",
        origin_campaign_id=other.id,
        consent_email=True,
    )
    session.add_all([fair, other, drill, screw, french, british, anne, paul, john, lyon])
    session.add_all(
        [
            Activity(
                account_id=french.id,
                contact_id=anne.id,
                kind="meeting",
                occurred_at=MET,
                campaign_id=fair.id,
                temperature="hot",
                product_ids=[screw.id, drill.id],
                next_step="Devis avant vendredi",
            ),
            # Paul asked about something else: not in Anne's e-mail.
            Activity(
                account_id=french.id,
                contact_id=paul.id,
                kind="meeting",
                occurred_at=MET,
                campaign_id=fair.id,
                product_ids=["0190f0a0-0000-7000-8000-000000000000"],
                next_step="Rappeler Paul",
            ),
            Activity(account_id=british.id, contact_id=john.id, kind="meeting", occurred_at=MET, campaign_id=fair.id),
        ]
    )
    session.commit()
    return {"fair": fair.id, "french": french.id, "british": british.id, "anne": anne.id, "john": john.id}


def test_each_person_met_at_the_event_with_an_e_mail_gets_a_draft_in_their_language(replica: Engine) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        drafts = event_drafts(session, ids["fair"], "Alice Durand")
    assert [(d.contact_name, d.to_address, d.language) for d in drafts] == [
        ("Anne Roux", "anne@roux.fr", "fr"),  # French from the customer's country
        ("John Oak", "john@oak.co.uk", "en"),
    ]
    anne, john = drafts
    assert anne.account_name == "Menuiserie Roux" and anne.campaign_id == ids["fair"]
    assert anne.subject == "Suite à notre rencontre sur Batimat 2026"
    assert "- Visseuse V12\n- Perceuse P18" in anne.body and "Devis avant vendredi" in anne.body
    assert "Rappeler Paul" not in anne.body
    assert anne.body.endswith("Alice Durand\n")
    assert john.body.startswith("Dear John Oak,") and "products" not in john.body


def test_people_already_e_mailed_for_the_event_are_left_out_and_queued_e_mails_wait_in_the_outbox(
    replica: Engine,
) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        anne, _john = event_drafts(session, ids["fair"], "Alice")
        edited = replace(anne, subject="Merci  pour\nvotre visite")
        assert send_drafts(session, [edited], author_id="0190f0a0-0000-7000-8000-0000000000aa") == 1
        assert [d.contact_id for d in event_drafts(session, ids["fair"], "Alice")] == [ids["john"]]
        (email,) = emails_of(session, ids["french"])
        assert (email.to_address, email.language, email.status, email.campaign_id) == (
            "anne@roux.fr",
            "fr",
            "queued",
            ids["fair"],
        )
        assert email.subject == "Merci pour votre visite"  # one line: it becomes a mail header
        assert email.author_id == "0190f0a0-0000-7000-8000-0000000000aa"
        outbox = session.exec(select(OutboxEntry)).all()
        assert [(e.entity, e.op) for e in outbox] == [("email_message", "create")]


def test_a_draft_that_cannot_go_is_named_and_nothing_is_queued(replica: Engine) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        anne, john = event_drafts(session, ids["fair"], "Alice")
        broken = replace(john, to_address="john at oak")
        with pytest.raises(InvalidEdit, match="John Oak: to_address"):
            send_drafts(session, [anne, broken], author_id=None)
        assert session.exec(select(EmailMessage)).all() == []
        assert session.exec(select(OutboxEntry)).all() == []


def test_an_audience_is_written_to_at_its_primary_contact_else_its_first_with_an_e_mail(replica: Engine) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        primary = Contact(
            account_id=ids["french"],
            last_name="Gérant",
            email="gerant@roux.fr",
            is_primary=True,
            language="fr",
            consent_email=True,
        )
        nobody = Account(name="Sans E-mail SARL", billing_country="FR")
        session.add_all([primary, nobody, Contact(account_id=nobody.id, last_name="Muet")])
        session.commit()
        drafts = audience_drafts(session, [ids["british"], nobody.id, ids["french"]], "Alice")
    assert [(d.account_name, d.to_address, d.language) for d in drafts] == [
        ("Oak & Sons", "john@oak.co.uk", "en"),
        ("Menuiserie Roux", "gerant@roux.fr", "fr"),
    ]
    assert drafts[1].subject == "Suite à notre échange" and drafts[1].campaign_id is None


def test_the_screen_sends_the_ticked_e_mails_as_edited_and_says_they_leave_with_the_network(replica: Engine) -> None:
    t = Translator("fr")
    with Session(replica) as session:
        ids = _fair(session)
        drafts = event_drafts(session, ids["fair"], "Alice")

    def send(chosen: list[Draft]) -> str | None:
        with Session(replica) as session:
            try:
                send_drafts(session, chosen, author_id=None)
            except InvalidEdit as exc:
                return str(exc)
        return None

    page = followup_page(t, drafts, send, back=lambda: None)
    form = page.data
    assert isinstance(form, FollowupForm)
    anne, john = form.cards
    anne.subject.value = "Merci pour votre visite"
    john.include.value = False
    form.send()
    assert form.message.value == "1 e-mail(s) prêt(s) à partir : ils partent dès que le réseau est là."
    assert anne.include.disabled and not anne.ticked and anne.state.value == "En attente d'envoi"
    with Session(replica) as session:
        (email,) = session.exec(select(EmailMessage)).all()
    assert email.subject == "Merci pour votre visite" and email.contact_id == ids["anne"]
    form.send()  # nothing ticked any more: Anne's cannot go twice
    assert form.message.value == "Cochez au moins un e-mail à envoyer."
    john.include.value = True
    john.body.value = ""
    form.send()
    assert "John Oak: body" in str(form.message.value)
    assert not john.include.disabled


def test_with_nobody_to_write_to_the_screen_says_so() -> None:
    page = followup_page(Translator("en"), [], lambda _d: None, back=lambda: None)
    texts = [c.value for c in page.controls if hasattr(c, "value")]  # type: ignore[attr-defined]
    assert "No follow-up to write: everyone has had theirs or has no e-mail address." in texts


def _without_consent(session: Session, ids: dict[str, str]) -> Contact:
    """Someone met at the event who said no to e-mails (the rep unticked the box)."""
    marie = Contact(
        account_id=ids["french"],
        first_name="Marie",
        last_name="Roux",
        email="marie@roux.fr",
        origin_campaign_id=ids["fair"],
        consent_email=False,
    )
    session.add(marie)
    session.commit()
    return marie


def test_a_person_without_e_mail_consent_gets_no_draft_that_can_be_sent_but_is_listed_with_why(
    replica: Engine,
) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        marie = _without_consent(session, ids)
        drafts = event_drafts(session, ids["fair"], "Alice")
        assert [(d.contact_name, d.held_back) for d in drafts] == [
            ("Anne Roux", None),
            ("Marie Roux", NO_EMAIL_CONSENT),
            ("John Oak", None),
        ]
        held = drafts[1]
        assert held.contact_id == marie.id
        # Neither the held draft nor one made to look sendable is queued, nor anything with it.
        for attempt in (held, replace(held, held_back=None)):
            with pytest.raises(InvalidEdit, match="Marie Roux: this person has not agreed to receive e-mails"):
                send_drafts(session, [drafts[0], attempt], author_id=None)
        # Nor one to her address without naming her.
        with pytest.raises(InvalidEdit, match="not agreed"):
            send_drafts(session, [replace(held, contact_id=None, held_back=None)], author_id=None)
        assert session.exec(select(EmailMessage)).all() == []
        assert session.exec(select(OutboxEntry)).all() == []


def test_the_screen_lists_the_people_without_consent_apart_with_the_reason_and_sends_only_the_others(
    replica: Engine,
) -> None:
    t = Translator("fr")
    with Session(replica) as session:
        ids = _fair(session)
        marie = _without_consent(session, ids)
        drafts = event_drafts(session, ids["fair"], "Alice")

    def send(chosen: list[Draft]) -> str | None:
        with Session(replica) as session:
            send_drafts(session, chosen, author_id=None)
        return None

    page = followup_page(t, drafts, send, back=lambda: None)
    form = page.data
    assert isinstance(form, FollowupForm)
    assert [card.draft.contact_name for card in form.cards] == ["Anne Roux", "John Oak"]
    assert [d.contact_id for d in form.held] == [marie.id]
    controls = page.controls  # type: ignore[attr-defined]
    (shown,) = [c for c in controls if getattr(c, "identifier", None) == f"followup-held-{marie.id}"]
    line = shown.content.controls[1].value
    assert line == "Marie Roux <marie@roux.fr> · Menuiserie Roux : pas de consentement e-mail"
    form.send()
    assert form.message.value == "2 e-mail(s) prêt(s) à partir : ils partent dès que le réseau est là."
    with Session(replica) as session:
        assert sorted(e.to_address for e in session.exec(select(EmailMessage))) == ["anne@roux.fr", "john@oak.co.uk"]


def test_an_audience_is_written_to_at_a_contact_who_agreed_and_a_customer_whose_people_refused_is_held(
    replica: Engine,
) -> None:
    with Session(replica) as session:
        ids = _fair(session)
        # The primary contact refused e-mails; Anne agreed: the customer is written to at Anne's.
        session.add(Contact(account_id=ids["french"], last_name="Gérant", email="gerant@roux.fr", is_primary=True))
        refusing = Account(name="Refus SARL", billing_country="FR")
        session.add_all([refusing, Contact(account_id=refusing.id, last_name="Non", email="non@refus.fr")])
        session.commit()
        drafts = audience_drafts(session, [ids["french"], refusing.id], "Alice")
    assert [(d.account_name, d.to_address, d.held_back) for d in drafts] == [
        ("Menuiserie Roux", "anne@roux.fr", None),
        ("Refus SARL", "non@refus.fr", NO_EMAIL_CONSENT),
    ]
