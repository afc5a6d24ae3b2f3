"""The quick lead form's checks on a real replica: what to fix in what was typed, and the
customers already in the book that a lead may be, by SIREN, e-mail, phone, domain or name."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from app.lead_import import LeadDraft
from app.leads import DuplicateIndex, check_lead
from app.models import Account, Contact
from sync.engine import SyncEngine


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
