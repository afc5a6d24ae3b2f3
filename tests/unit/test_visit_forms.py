"""The plan form reads what the rep typed into a visit in their time zone, or says what to fix."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.card import AccountSummary
from app.i18n import Translator
from views.visits import PlanForm, read_day_time

PARIS = Translator("fr", "Europe/Paris")


@pytest.mark.parametrize(
    ("day", "at", "utc"),
    [
        ("2026-12-03", "9:30", datetime(2026, 12, 3, 8, 30, tzinfo=UTC)),  # winter: UTC+1
        ("2026-07-03", "09h30", datetime(2026, 7, 3, 7, 30, tzinfo=UTC)),  # summer: UTC+2
        ("2026-03-29", "14.", datetime(2026, 3, 29, 12, tzinfo=UTC)),  # the day the clocks go forward
    ],
)
def test_a_typed_day_and_time_are_the_reps_local_time(day: str, at: str, utc: datetime) -> None:
    assert read_day_time(PARIS, day, at) == utc


@pytest.mark.parametrize(
    ("day", "at", "fix"),
    [
        ("03/12/2026", "09:30", "Écrivez le jour comme 2026-12-31."),
        ("2026-12-03", "25:00", "Écrivez l'heure comme 09:30."),
        ("2026-12-03", "", "Écrivez l'heure comme 09:30."),
    ],
)
def test_a_bad_day_or_time_says_what_to_fix(day: str, at: str, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        read_day_time(PARIS, day, at)


def _summary(account_id: str, name: str) -> AccountSummary:
    return AccountSummary(id=account_id, name=name, city="Lyon", postcode="69001", lifecycle_stage="client")


def test_the_form_needs_a_customer_then_plans_with_its_main_contact() -> None:
    contacts = {"a1": [("c1", "Anne Martin (Gérante)"), ("c2", "Paul Roux")]}
    form = PlanForm(
        PARIS,
        day=date(2026, 12, 3),
        account=None,
        contacts_of=lambda account_id: contacts.get(account_id, []),
        search=lambda text: [_summary("a1", "Boulangerie Martin")] if "mart" in text.lower() else [],
    )
    with pytest.raises(ValueError, match="Choisissez le client"):
        form.read()
    form.query.value = "Mart"
    form._find(type("Event", (), {"control": form.query})())
    assert len(form.found.controls) == 1
    form.choose("a1", "Boulangerie Martin")
    form.time.value, form.length.value, form.purpose.value, form.fixed.value = "10:15", "45", "  Dégustation ", True
    planned = form.read()
    assert planned.account_id == "a1" and planned.contact_id == "c1"
    assert planned.starts_at == datetime(2026, 12, 3, 9, 15, tzinfo=UTC) and planned.minutes == 45
    assert planned.purpose == "Dégustation" and planned.fixed_time
