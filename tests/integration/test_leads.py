"""The quick lead form's checks on a real replica: what to fix in what was typed, and the
customers already in the book that a lead may be, by SIREN, e-mail, phone, domain or name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.edits import InvalidEdit
from app.followup import event_drafts
from app.i18n import Translator
from app.ids import new_id
from app.lead_import import LeadDraft, guess_mapping, parse_badge_csv
from app.leads import DuplicateIndex, capture_lead, check_lead, event_leads, import_badges, open_event
from app.models import Account, Activity, Campaign, Contact, LifecycleStageChange, Reminder, Temperature
from sync.engine import SyncEngine
from views.leads import LeadForm


def test_what_was_typed_is_normalised_or_said_to_be_wrong() -> None:
    ok = check_lead(
        LeadDraft("Léa", "Girard", "Hôtel du Lac", "Lea@Hotel-Lac.FR", "04 50 00 00 00"), company_id="FR96552100554"
    )
    assert ok.problems == {} and ok.siren == "552100554"
    assert ok.draft.email == "Lea@hotel-lac.fr" and ok.draft.phone == "+33450000000"
    bad = check_lead(LeadDraft(email="lea@", phone="12"), company_id="552100555")
    assert set(bad.problems) == {"email", "phone", "company_id"}
    assert "not a valid SIREN" in bad.problems["company_id"] and bad.draft.phone == "12"
    assert check_lead(LeadDraft(first_name="Léa")).problems == {
        "last_name": "a lead needs a name, a company or an e-mail"
    }


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_lead_is_matched_to_the_customer_it_already_is(alice: SyncEngine) -> None:
    with Session(alice.replica) as session:
        account = session.exec(
            select(Account)
            .where(col(Account.email).is_not(None), col(Account.phone).is_not(None))
            .order_by(col(Account.name))
        ).first()
        assert account is not None and account.email and account.phone
        contact = session.exec(
            select(Contact).where(Contact.account_id == account.id, col(Contact.email).is_not(None))
        ).first()
        index = DuplicateIndex(session)
    # The company's name with a typo and a legal form: found by name.
    typo = account.name[:3] + account.name[4] + account.name[3] + account.name[5:] + " SARL"
    by_name = index.match(LeadDraft(company=typo))
    assert by_name and by_name[0].account_id == account.id and by_name[0].reasons == ["name"]
    # Someone else of the company: the same e-mail domain, the company's phone written otherwise.
    domain = account.email.split("@")[1]
    local = account.phone.replace(" ", "")
    colleague = LeadDraft(last_name="Nouveau", email=f"nouveau.venu@{domain}", phone=local)
    first = index.match(colleague)[0]
    assert first.account_id == account.id and set(first.reasons) == {"domain", "phone"}
    if contact is not None and contact.email:
        known = index.match(LeadDraft(last_name=contact.last_name, email=contact.email.upper()))[0]
        assert known.account_id == account.id and "email" in known.reasons
    # A new company, on gmail: nothing.
    assert index.match(LeadDraft(last_name="Inconnu", company="Zyxwv Quantique", email="zyx@gmail.com")) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_leads_captured_at_an_event_reach_the_server_with_the_event_as_origin(
    alice: SyncEngine, demo_engine: Engine
) -> None:
    zone = ZoneInfo("Europe/Paris")
    with Session(alice.replica) as session:
        user_id = alice.state()["user_id"]
        event = open_event(
            session=session, name="Salon Vinitech", place="Bordeaux", starts_on=date(2026, 11, 30), ends_on=None
        )
        again = open_event(
            session=session, name="salon vinitech", place=None, starts_on=date(2026, 11, 30), ends_on=None
        )
        assert again.id == event.id  # opened twice: one event
        existing = session.exec(select(Account).order_by(col(Account.name))).first()
        assert existing is not None
        now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        new = capture_lead(
            session=session,
            event_id=event.id,
            draft=LeadDraft(
                "Léa", "Girard", "Domaine des Aubiers SARL", "lea@aubiers.fr", "06 12 34 56 78", notes="Veut une démo"
            ),
            company_id="552100554",
            temperature=Temperature.hot,
            next_step="Démo en janvier",
            author_id=user_id,
            follow_up_reason="Relancer {name} ({event})",
            zone=zone,
            now=now,
        )
        english = capture_lead(
            session=session,
            event_id=event.id,
            draft=LeadDraft("Tom", "Baker", "Baker Wines Ltd", "tom@bakerwines.co.uk", "+44 20 7946 0958"),
            temperature=Temperature.cold,
            author_id=user_id,
            zone=zone,
            now=now,
        )
        attached = capture_lead(
            session=session,
            event_id=event.id,
            draft=LeadDraft("Marc", "Nouveau", existing.name, None, None),
            attach_to=existing.id,
            author_id=user_id,
            zone=zone,
            now=now,
        )
        assert new.new_account and english.new_account and not attached.new_account
        listed = event_leads(session=session, event_id=event.id)
        assert sorted(line.name for line in listed) == ["Léa Girard", "Marc Nouveau", "Tom Baker"]
        assert {line.name: line.temperature for line in listed} == {
            "Léa Girard": "hot",
            "Tom Baker": "cold",
            "Marc Nouveau": "warm",
        }
        assert {line.company for line in listed} == {"Domaine des Aubiers SARL", "Baker Wines Ltd", existing.name}
        # A typo is named, and nothing of it is saved.
        before = session.exec(select(sa.func.count()).select_from(Contact)).one()
        with pytest.raises(InvalidEdit, match="email"):
            capture_lead(session=session, event_id=event.id, draft=LeadDraft(last_name="X", email="x@"), zone=zone)
        assert session.exec(select(sa.func.count()).select_from(Contact)).one() == before
    alice.sync()
    with Session(demo_engine) as server:
        fair = server.get(Campaign, event.id)
        assert fair is not None and fair.channel == "trade_fair" and fair.created_by == user_id
        leads = server.exec(select(Account).where(Account.origin_campaign_id == event.id)).all()
        assert sorted(a.name for a in leads) == ["Baker Wines Ltd", "Domaine des Aubiers SARL"]
        assert {a.lifecycle_stage for a in leads} == {"lead"} and {a.origin for a in leads} == {"trade_fair"}
        assert {a.owner_id for a in leads} == {user_id}
        people = server.exec(select(Contact).where(Contact.origin_campaign_id == event.id)).all()
        assert {(p.last_name, p.account_id) for p in people} == {
            ("Girard", new.account_id),
            ("Baker", english.account_id),
            ("Nouveau", existing.id),
        }
        by_name = {p.last_name: p for p in people}
        assert by_name["Girard"].language == "fr" and by_name["Baker"].language == "en"
        assert by_name["Girard"].mobile == "+33612345678"
        captured = server.exec(select(Activity).where(Activity.campaign_id == event.id)).all()
        assert len(captured) == 3
        hot = next(a for a in captured if a.contact_id == new.contact_id)
        assert (hot.temperature, hot.next_step, hot.summary) == ("hot", "Démo en janvier", "Veut une démo")
        reminders = {
            r.contact_id: r
            for r in server.exec(
                select(Reminder).where(col(Reminder.contact_id).in_([new.contact_id, english.contact_id]))
            )
        }
        # hot: the day after, cold: a week after, at 09:00 in Paris (08:00 UTC in winter).
        assert reminders[new.contact_id].due_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        assert reminders[english.contact_id].due_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
        stages = server.exec(
            select(LifecycleStageChange).where(LifecycleStageChange.account_id == new.account_id)
        ).all()
        assert [(s.from_stage, s.to_stage) for s in stages] == [(None, "lead")]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rep_opens_events_but_does_not_make_campaigns(api: TestClient, alice: SyncEngine) -> None:
    body = {
        "client_id": alice.state()["device_id"],
        "schema_version": 1,
        "mutations": [
            {
                "mid": 900,
                "entity": "campaign",
                "id": new_id(),
                "op": "create",
                "fields": {"name": "Soldes", "channel": "email"},
            },
            {
                "mid": 901,
                "entity": "campaign",
                "id": new_id(),
                "op": "create",
                "fields": {"name": "Salon", "starts_on": "2026-12-02", "ends_on": "2026-12-01"},
            },
        ],
    }
    results = api.post(
        "/api/v1/sync/push", json=body, headers={"Authorization": f"Bearer {alice._access_token}"}
    ).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert "campaigns are made on the server" in results[0]["reason"]
    assert "ends_on is before starts_on" in results[1]["reason"]


def test_a_badge_scanners_columns_are_guessed_from_their_names() -> None:
    assert guess_mapping(["Prénom", "NOM", "Société", "E-mail", "Tél.", "Badge n°", "Commentaires"]) == {
        "Prénom": "first_name",
        "NOM": "last_name",
        "Société": "company",
        "E-mail": "email",
        "Tél.": "phone",
        "Commentaires": "notes",
    }
    assert guess_mapping(["First Name", "Last Name", "Company", "Email Address", "Job Title"]) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company": "company",
        "Email Address": "email",
        "Job Title": "title",
    }


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_badge_export_becomes_leads_of_the_event_and_known_people_are_left_to_the_rep(
    alice: SyncEngine, demo_engine: Engine
) -> None:
    zone = ZoneInfo("Europe/Paris")
    with Session(alice.replica) as session:
        event = open_event(session=session, name="Sirha", place="Lyon", starts_on=date(2026, 11, 30), ends_on=None)
        known = session.exec(
            select(Contact).where(col(Contact.email).is_not(None)).order_by(col(Contact.last_name))
        ).first()
        assert known is not None and known.email
        customer = session.get(Account, known.account_id)
        assert customer is not None
        domain = known.email.split("@")[1]
    rows = [
        "Prénom;Nom;Société;E-mail;Téléphone",
        "Inès;Morel;Traiteur Morel;ines@traiteur-morel.fr;04 78 00 00 01",
        f"Paul;Neuf;{customer.name};paul.neuf@{domain};",  # the customer's domain: attached to it
        f"{known.first_name or ''};{known.last_name};;{known.email.upper()};",  # already in the book
        "Inès;Morel;Traiteur Morel;ines@traiteur-morel.fr;",  # twice in the file
        "Jo;Faux;Faux SA;jo@;",  # a typo
        ";;;;",  # nothing: a bad row
    ]
    data = "\n".join(rows).encode("latin-1", errors="replace")
    read = parse_badge_csv(data, guess_mapping(parse_badge_csv(data, {}).columns))
    assert read.bad_rows == [(7, "no name, company or e-mail")]
    with Session(alice.replica) as session:
        report = import_badges(
            session=session,
            event_id=event.id,
            drafts=read.drafts,
            author_id=alice.state()["user_id"],
            zone=zone,
            follow_up_reason="Relancer {name} ({event})",
        )
    assert (report.saved, report.attached) == (1, 1)
    reasons = [why for _draft, why in report.review]
    assert reasons[0].startswith("already in the book") and reasons[1] == "twice in the file"
    assert len(report.review) == 3 and "@" in reasons[2]  # email-validator's sentence about "jo@"
    alice.sync()
    with Session(demo_engine) as server:
        people = server.exec(select(Contact).where(Contact.origin_campaign_id == event.id)).all()
        assert {(p.last_name, p.account_id == customer.id) for p in people} == {("Morel", False), ("Neuf", True)}
        lead = server.exec(select(Account).where(Account.origin_campaign_id == event.id)).one()
        assert (lead.name, lead.lifecycle_stage) == ("Traiteur Morel", "lead")


def test_a_badge_scanners_consent_column_is_recognised_and_another_channels_is_not() -> None:
    assert guess_mapping(["Nom", "E-mail", "Consentement RGPD", "SMS opt-in"]) == {
        "Nom": "last_name",
        "E-mail": "email",
        "Consentement RGPD": "consent_email",
    }
    assert guess_mapping(["Email", "E-mail opt-in", "Opt-out"])["E-mail opt-in"] == "consent_email"
    assert guess_mapping(["Email", "Accepte d'être recontacté"])["Accepte d'être recontacté"] == "consent_email"
    assert "Opt-out" not in guess_mapping(["Email", "Opt-out"])  # a yes there would be a refusal


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_lead_is_e_mailable_only_when_they_said_yes_on_the_form_or_in_the_badge_export(
    alice: SyncEngine, demo_engine: Engine
) -> None:
    """The quick form's box (ticked: the person handed over their card to be followed up; unticked:
    they refused) and a scanner's opt-in column (yes only; no column at all: no) become the
    contact's e-mail consent, on the device and on the server."""
    zone = ZoneInfo("Europe/Paris")
    user_id = alice.state()["user_id"]
    with Session(alice.replica) as session:
        event = open_event(session=session, name="Sirha", place="Lyon", starts_on=date(2026, 11, 30), ends_on=None)
        for draft in (
            LeadDraft("Léa", "Oui", "Oui SARL", "lea@oui-sarl.fr", consent_email=True),
            LeadDraft("Luc", "Non", "Non SARL", "luc@non-sarl.fr", consent_email=False),
        ):
            capture_lead(session=session, event_id=event.id, draft=draft, author_id=user_id, zone=zone)
        with_column = (
            "Nom;Société;E-mail;Opt-in e-mail\n"
            "Accord;Accord SA;a@accord-sa.fr;Oui\n"
            "Refus;Refus SA;r@refus-sa.fr;non\n"
            "Vide;Vide SA;v@vide-sa.fr;\n"
        )
        without = "Nom;Société;E-mail\nMuet;Muet SA;m@muet-sa.fr\n"
        for text in (with_column, without):
            data = text.encode()
            mapping = guess_mapping(parse_badge_csv(data, {}).columns)
            assert ("consent_email" in mapping.values()) == (text is with_column)
            report = import_badges(
                session=session,
                event_id=event.id,
                drafts=parse_badge_csv(data, mapping).drafts,
                author_id=user_id,
                zone=zone,
                follow_up_reason="Relancer {name} ({event})",
            )
            assert report.review == []
        expected = {"Oui": True, "Non": False, "Accord": True, "Refus": False, "Vide": False, "Muet": False}
        on_device = session.exec(
            select(Contact.last_name, Contact.consent_email).where(Contact.origin_campaign_id == event.id)
        ).all()
        assert dict(on_device) == expected
        # Only those who said yes get a follow-up that can be sent.
        drafts = event_drafts(session, event.id, "Alice")
        assert sorted(d.contact_name for d in drafts if not d.held_back) == ["Accord", "Léa Oui"]
    alice.sync()
    with Session(demo_engine) as server:
        on_server = server.exec(
            select(Contact.last_name, Contact.consent_email).where(Contact.origin_campaign_id == event.id)
        ).all()
    assert dict(on_server) == expected


def test_the_quick_forms_consent_box_is_ticked_for_each_new_person_and_unticked_when_they_refused() -> None:
    form = LeadForm(Translator("fr"), duplicates=lambda _d, _c: [], search_products=lambda _q: [], save=lambda _e: None)
    assert form.consent_email.label == "Accepte d'être recontacté par e-mail"
    form.last_name.value = "Girard"
    assert form.consent_email.value is True and form.draft().consent_email is True
    form.consent_email.value = False  # the person refused
    assert form.draft().consent_email is False
    form.clear()
    assert form.consent_email.value is True  # the next person says it for themselves
    form.fill(LeadDraft(last_name="Morel", consent_email=False))  # a badge row without a yes
    assert form.consent_email.value is False
    form.fill(LeadDraft(last_name="Baker"))  # a business card handed over
    assert form.consent_email.value is True
