"""Each reminder rule around its edges (the day before, the day, the day after), and the rep's
time zone deciding which day it is and when a reminder is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.i18n import Translator
from app.reminders import AccountFacts, due_moment, local_day, proposed_reminders, reminder_id

PARIS = ZoneInfo("Europe/Paris")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def rules_on(facts: AccountFacts, day: date) -> list[str]:
    return [p.rule for p in proposed_reminders(facts, day)]


def test_a_competitor_contract_is_recalled_from_30_days_before_its_end_until_it_ends() -> None:
    end = date(2027, 3, 31)
    facts = AccountFacts("a1", "Hôtel Marchand", competitor="Metro", competitor_contract_end=end)
    assert rules_on(facts, date(2027, 2, 28)) == []  # the day before: 31 days to go
    assert rules_on(facts, date(2027, 3, 1)) == ["competitor_contract_end"]  # the day: 30 days to go
    assert rules_on(facts, date(2027, 3, 2)) == ["competitor_contract_end"]  # the day after
    assert rules_on(facts, end) == ["competitor_contract_end"]
    assert rules_on(facts, end + timedelta(days=1)) == []  # over: nothing left to win there
    (proposal,) = proposed_reminders(facts, date(2027, 3, 10))
    assert proposal.due_on == date(2027, 3, 1) and proposal.key == "competitor:a1:2027-03-31"
    # The rep who learnt six months earlier: nothing until the day, then the reminder.
    assert all(rules_on(facts, end - timedelta(days=d)) == [] for d in range(31, 183))


def test_an_account_is_recalled_when_it_has_not_ordered_for_twice_its_usual_gap() -> None:
    days = [date(2026, 9, 1), date(2026, 9, 11), date(2026, 9, 21)]  # every 10 days
    facts = AccountFacts("a1", "Cave Legrand", order_days=days)
    assert rules_on(facts, date(2026, 10, 10)) == []  # 19 days without: not yet
    assert rules_on(facts, date(2026, 10, 11)) == ["reorder_overdue"]  # 20 days: twice the gap
    assert rules_on(facts, date(2026, 10, 12)) == ["reorder_overdue"]
    # Once it orders again, the next reminder is another one (another key), not the same again.
    before = proposed_reminders(facts, date(2026, 10, 11))[0].key
    again = AccountFacts("a1", "Cave Legrand", order_days=[*days, date(2026, 10, 15)])
    assert rules_on(again, date(2026, 10, 20)) == []
    assert proposed_reminders(again, date(2026, 11, 30))[0].key != before
    assert rules_on(facts, date(2026, 11, 10)) == ["reorder_overdue"]  # 30 days after it fell due
    assert rules_on(facts, date(2026, 11, 11)) == []  # silent for long: the card's matter
    # Two order days are no rhythm yet.
    assert rules_on(AccountFacts("a1", "x", order_days=days[:2]), date(2027, 1, 1)) == []


def test_a_quote_is_recalled_three_days_before_it_expires() -> None:
    facts = AccountFacts("a1", "Traiteur Robin", open_quotes=[("q1", "DV-2026-0042", date(2026, 12, 10))])
    assert rules_on(facts, date(2026, 12, 6)) == []
    assert rules_on(facts, date(2026, 12, 7)) == ["quote_expiry"]
    assert rules_on(facts, date(2026, 12, 8)) == ["quote_expiry"]
    assert rules_on(facts, date(2026, 12, 11)) == []  # expired: another matter


def test_an_open_invoice_is_recalled_from_the_day_after_its_due_day() -> None:
    facts = AccountFacts("a1", "Brasserie du Lac", open_invoices=[("i1", "FA-2026-1", date(2026, 11, 30))])
    assert rules_on(facts, date(2026, 11, 30)) == []  # due today: not overdue yet
    assert rules_on(facts, date(2026, 12, 1)) == ["overdue_invoice"]
    assert rules_on(facts, date(2026, 12, 2)) == ["overdue_invoice"]
    assert proposed_reminders(facts, date(2026, 12, 31))[0].key == "invoice:i1"  # one per invoice
    assert rules_on(facts, date(2027, 1, 1)) == []  # overdue for over 30 days: the card's matter


def test_a_birthday_is_recalled_on_the_day_and_two_days_after_including_29_february() -> None:
    facts = AccountFacts("a1", "Café du Port", birthdays=[("c1", "Léa Martin", date(1990, 12, 3))])
    assert rules_on(facts, date(2026, 12, 2)) == []
    assert rules_on(facts, date(2026, 12, 3)) == ["birthday"]
    assert rules_on(facts, date(2026, 12, 5)) == ["birthday"]  # a device off for two days
    assert rules_on(facts, date(2026, 12, 6)) == []
    assert proposed_reminders(facts, date(2026, 12, 4))[0].key == "birthday:c1:2026"
    leap = AccountFacts("a1", "x", birthdays=[("c2", "Noé", date(1988, 2, 29))])
    assert [p.due_on for p in proposed_reminders(leap, date(2027, 2, 28))] == [date(2027, 2, 28)]
    assert [p.due_on for p in proposed_reminders(leap, date(2028, 2, 29))] == [date(2028, 2, 29)]
    assert rules_on(leap, date(2028, 2, 28)) == []
    # Over new year: 31 December's birthday, seen on 2 January.
    december = AccountFacts("a1", "x", birthdays=[("c3", "Zoé", date(1975, 12, 31))])
    assert [p.due_on for p in proposed_reminders(december, date(2027, 1, 2))] == [date(2026, 12, 31)]


def test_the_reps_time_zone_says_which_day_it_is_and_when_a_reminder_is_due() -> None:
    # 23:30 UTC on 28 March 2026 is already the 29th in Paris (and the day clocks go forward).
    late = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert local_day(late, PARIS) == date(2026, 3, 29) and local_day(late, UTC) == date(2026, 3, 28)
    facts = AccountFacts("a1", "x", open_invoices=[("i1", "FA-1", date(2026, 3, 28))])
    assert rules_on(facts, local_day(late, PARIS)) == ["overdue_invoice"]
    assert rules_on(facts, local_day(late, ZoneInfo("America/New_York"))) == []  # still the 28th there
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer (from 29 March 2026).
    assert due_moment(date(2026, 3, 28), PARIS).astimezone(UTC).hour == 8
    assert due_moment(date(2026, 3, 29), PARIS).astimezone(UTC).hour == 7
    # In Auckland, 09:00 on the 1st is still the 30th in UTC: the day is the rep's, not UTC's.
    due = due_moment(date(2026, 12, 1), AUCKLAND)
    assert due.astimezone(UTC).date() == date(2026, 11, 30) and local_day(due, AUCKLAND) == date(2026, 12, 1)


def test_a_reminder_has_the_same_id_on_every_device_of_the_rep() -> None:
    assert reminder_id("rep-1", "invoice:i1") == reminder_id("rep-1", "invoice:i1")
    assert reminder_id("rep-1", "invoice:i1") != reminder_id("rep-2", "invoice:i1")
    assert reminder_id("rep-1", "invoice:i1") != reminder_id("rep-1", "invoice:i2")


def test_every_rule_reads_in_both_languages() -> None:
    facts = AccountFacts(
        "a1",
        "Hôtel Marchand",
        competitor="Metro",
        competitor_contract_end=date(2026, 12, 20),
        order_days=[date(2026, 10, 1), date(2026, 10, 11), date(2026, 10, 21)],
        open_quotes=[("q1", "DV-1", date(2026, 12, 3))],
        open_invoices=[("i1", "FA-1", date(2026, 11, 1))],
        birthdays=[("c1", "Léa Martin", date(1990, 11, 30))],
    )
    proposals = proposed_reminders(facts, date(2026, 11, 30))
    assert sorted(p.rule for p in proposals) == [
        "birthday",
        "competitor_contract_end",
        "overdue_invoice",
        "quote_expiry",
        "reorder_overdue",
    ]
    for language in ("fr", "en"):
        for proposal in proposals:
            text = Translator(language).reminder_reason(proposal, "Hôtel Marchand")
            assert text.startswith("Hôtel Marchand") and "{" not in text
    french = {p.rule: Translator("fr").reminder_reason(p, "Hôtel Marchand") for p in proposals}
    assert french["quote_expiry"] == "Hôtel Marchand : le devis DV-1 expire le 3 déc. 2026."
