"""Two reps' leads for one company: found when a push brings them, offered to a manager, merged.

Every account's identifiers are kept, normalised as `app.duplicates` compares them, in
`account_key` (SIREN, e-mails, phones in E.164, company domains, the company-name key and its
word prefixes), so that a lead reaching the server is matched by index look-ups, never by
reading every account. A push that creates a lead, a contact, or changes an identifier
(`find_duplicates`) re-indexes those accounts and proposes merges (`propose_merges`); a manager
merges (`merge_accounts`: everything of the duplicate moves to the kept account through the
ORM, so the change log sends it to the kept account's owner, and the duplicate's deletion purges
it from its owner's devices) or dismisses. Late changes from a device that still names the
merged account are redirected to the kept one (`redirect_merged`, `merged_away_after_pull`).

Candidates for a close name: the accounts sharing a word prefix (the first four letters of a
word of three letters or more of the company key, kind "nametok"), each then scored with
rapidfuzz (`key_similarity` >= NAME_THRESHOLD). A prefix on more than COMMON_PREFIX accounts
("boul" of every bakery) is left out while the name has a rarer one; at most
MAX_NAME_CANDIDATES names are scored. Cost per checked account: one grouped count on the
(kind, key) index, one indexed join returning the candidates' name keys, and a rapidfuzz pass
over them (about 1 µs each). A close name with a typo in the first four letters of every one of
its words is missed; the exact identifiers still catch it.

Who is proposed: a pair where at least one account is still early (suspect, lead, prospect),
whoever owns them: leads are what a sync brings, the device warned its rep only about the
accounts on that replica when the lead was typed (not another device's, nor leads captured
before the pull that brought the other). Two established customers are the ERP's records and
often deliberately apart (a chain's shops share a domain, a switchboard): they are proposed only
when they belong to different reps and share a SIREN or an e-mail address, the same company or
person in two books. At most MAX_PROPOSALS_PER_ACCOUNT per check, the most alike first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.duplicates import (
    NAME_THRESHOLD,
    company_key,
    email_domain,
    key_similarity,
    phone_key,
    siren_key,
    website_domain,
)
from app.ids import utcnow
from app.models import ENTITIES, Account, Contact, LifecycleStageChange, table_of
from server.db import advisory_lock, begin_write, chunks, savepoint
from server.models import AccountKey, ChangeLog, MergeProposal
from sync.wire import Mutation

__all__ = [
    "COMMON_PREFIX",
    "EARLY_STAGES",
    "MAX_NAME_CANDIDATES",
    "MAX_PROPOSALS_PER_ACCOUNT",
    "MergeOutcome",
    "MergeRefused",
    "account_keys",
    "dismiss_proposal",
    "ensure_duplicate_keys",
    "find_duplicates",
    "identity_account",
    "index_accounts",
    "matching_accounts",
    "merge_accounts",
    "merged_away_after_pull",
    "merged_into",
    "named_account",
    "propose_merges",
    "rebuild_duplicate_keys",
    "redirect_merged",
]

logger = logging.getLogger(__name__)

#: Stages of an account not yet a customer: a merge with one of them is always worth offering.
EARLY_STAGES = frozenset({"suspect", "lead", "prospect"})
#: Reasons that say "the same company or person" even between two established customers.
STRONG_REASONS = frozenset({"siren", "email"})
#: Reasons, strongest first (the order `app.duplicates.duplicate_reasons` gives).
REASON_ORDER = ("siren", "email", "phone", "domain", "name")
#: A name prefix found on more accounts than this is too common to pick candidates by.
COMMON_PREFIX = 2000
#: The most names scored for one account.
MAX_NAME_CANDIDATES = 5000
#: The most proposals one check makes (a lead on a chain's domain would otherwise match every shop).
MAX_PROPOSALS_PER_ACCOUNT = 5
#: Fields of an account whose change may make it match (or stop matching) another.
IDENTITY_FIELDS = frozenset({"name", "siren", "siret", "vat_number", "phone", "email", "website"})
CONTACT_IDENTITY_FIELDS = frozenset({"email", "phone", "mobile"})
_PREFIX = 4
_KEY_LENGTH = 254
_CHUNK = 500


class MergeRefused(ValueError):
    """The merge cannot be made as asked; the message says why, for the manager."""


# Keys ---------------------------------------------------------------------------------------
def name_prefixes(key: str) -> set[str]:
    """The word prefixes a close name is looked for by ("boulangerie dupont" -> boul, dupo)."""
    words = [w[:_PREFIX] for w in key.split() if len(w) >= 3]
    return set(words) if words else ({key[:_PREFIX]} if key else set())


def account_keys(
    *,
    name: str,
    legal_ids: Iterable[str | None] = (),
    emails: Iterable[str | None] = (),
    phones: Iterable[str | None] = (),
    websites: Iterable[str | None] = (),
) -> set[tuple[str, str]]:
    """An account's (kind, key) pairs: its name key and prefixes, the SIREN of its SIREN, SIRET
    or VAT number, its and its contacts' e-mails (and their company domains), phones, websites."""
    keys: set[tuple[str, str]] = set()
    if name_key := company_key(name or ""):
        keys.add(("name", name_key[:_KEY_LENGTH]))
        keys.update(("nametok", prefix) for prefix in name_prefixes(name_key))
    for identifier in legal_ids:
        if (siren := siren_key(identifier)) is not None:
            keys.add(("siren", siren))
    for email in emails:
        if email and email.strip():
            keys.add(("email", email.strip().lower()[:_KEY_LENGTH]))
            if (domain := email_domain(email)) is not None:
                keys.add(("domain", domain[:_KEY_LENGTH]))
    for phone in phones:
        if (number := phone_key(phone)) is not None:
            keys.add(("phone", number))
    for website in websites:
        if (domain := website_domain(website)) is not None:
            keys.add(("domain", domain[:_KEY_LENGTH]))
    return keys


def _keys_of(conn: sa.Connection, account_ids: list[str]) -> set[tuple[str, str, str]]:
    """The (account, kind, key) rows these accounts should have, from their data."""
    a, c = table_of(Account).c, table_of(Contact).c
    contacts: dict[str, list[Any]] = {}
    for row in conn.execute(sa.select(c.account_id, c.email, c.phone, c.mobile).where(c.account_id.in_(account_ids))):
        contacts.setdefault(row.account_id, []).append(row)
    wanted: set[tuple[str, str, str]] = set()
    for account in conn.execute(
        sa.select(a.id, a.name, a.siren, a.siret, a.vat_number, a.email, a.phone, a.website).where(
            a.id.in_(account_ids)
        )
    ):
        people = contacts.get(account.id, [])
        keys = account_keys(
            name=account.name,
            legal_ids=(account.siren, account.siret, account.vat_number),
            emails=(account.email, *(p.email for p in people)),
            phones=(account.phone, *(p.phone for p in people), *(p.mobile for p in people)),
            websites=(account.website,),
        )
        wanted.update((account.id, kind, key) for kind, key in keys)
    return wanted


#: The lock (PostgreSQL) that serialises, each until its commit, every writer of the duplicate
#: keys: two pushes bringing the same company at once, a rebuild and the pushes meanwhile.
_KEYS_LOCK = 0x74657272616964  # "terraid"


def index_accounts(session: Session, account_ids: Iterable[str]) -> None:
    """Bring these accounts' keys in step with their data (an account gone loses its keys)."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    advisory_lock(session, _KEYS_LOCK)
    session.flush()
    conn = session.connection()
    k = table_of(AccountKey)
    for chunk in chunks(ids):
        wanted = _keys_of(conn, chunk)
        have = {
            (r.account_id, r.kind, r.key)
            for r in conn.execute(sa.select(k.c.account_id, k.c.kind, k.c.key).where(k.c.account_id.in_(chunk)))
        }
        if stale := have - wanted:
            for account_id, kind, key in stale:
                conn.execute(sa.delete(k).where(k.c.account_id == account_id, k.c.kind == kind, k.c.key == key))
        if fresh := wanted - have:
            conn.execute(sa.insert(k), [{"account_id": a, "kind": kind, "key": key} for a, kind, key in sorted(fresh)])


def rebuild_duplicate_keys(session: Session) -> int:
    """Index every account afresh (a database older than the keys, or after a bulk load made
    outside the server); the number of accounts indexed. The caller commits.

    Under the duplicate keys' lock (SQLite: the write lock), so that no push indexes an account
    meanwhile and two server processes starting at once build the keys once."""
    begin_write(session)
    advisory_lock(session, _KEYS_LOCK)
    session.flush()
    conn = session.connection()
    k, a = table_of(AccountKey), table_of(Account)
    conn.execute(sa.delete(k))
    done, last = 0, ""
    while True:
        batch = list(conn.execute(sa.select(a.c.id).where(a.c.id > last).order_by(a.c.id).limit(_CHUNK)).scalars())
        if not batch:
            return done
        rows = [{"account_id": i, "kind": kind, "key": key} for i, kind, key in sorted(_keys_of(conn, batch))]
        if rows:
            conn.execute(sa.insert(k), rows)
        done, last = done + len(batch), batch[-1]


def ensure_duplicate_keys(session: Session) -> int | None:
    """Build the keys when there are accounts and no key at all (a database that predates
    them); the number of accounts indexed, or None when nothing had to be done."""
    begin_write(session)
    advisory_lock(session, _KEYS_LOCK)  # another server process starting now waits, then finds them built
    conn = session.connection()
    if conn.execute(sa.select(table_of(AccountKey).c.account_id).limit(1)).first() is not None:
        return None
    if conn.execute(sa.select(table_of(Account).c.id).limit(1)).first() is None:
        return None
    return rebuild_duplicate_keys(session)


# Detection ----------------------------------------------------------------------------------
def _close_names(conn: sa.Connection, account_id: str, names: set[str], prefixes: set[str]) -> set[str]:
    if not names or not prefixes:
        return set()
    k = table_of(AccountKey)
    counts: dict[str, int] = {
        key: int(n)
        for key, n in conn.execute(
            sa.select(k.c.key, sa.func.count())
            .where(k.c.kind == "nametok", k.c.key.in_(sorted(prefixes)))
            .group_by(k.c.key)
        )
    }
    chosen = [p for p in sorted(prefixes) if counts.get(p, 0) <= COMMON_PREFIX]
    if not chosen:
        chosen = [min(sorted(prefixes), key=lambda p: counts.get(p, 0))]
    other = k.alias("other")
    candidates = conn.execute(
        sa.select(other.c.account_id, other.c.key)
        .select_from(k.join(other, sa.and_(other.c.account_id == k.c.account_id, other.c.kind == "name")))
        .where(k.c.kind == "nametok", k.c.key.in_(chosen), k.c.account_id != account_id)
        .distinct()
        .limit(MAX_NAME_CANDIDATES)
    )
    return {
        other_id for other_id, key in candidates if any(key_similarity(name, key) >= NAME_THRESHOLD for name in names)
    }


def matching_accounts(session: Session, account_id: str) -> dict[str, list[str]]:
    """The other accounts that look like this one (by their keys), with why, strongest first."""
    session.flush()
    conn = session.connection()
    k = table_of(AccountKey)
    own: dict[str, set[str]] = {}
    for kind, key in conn.execute(sa.select(k.c.kind, k.c.key).where(k.c.account_id == account_id)):
        own.setdefault(kind, set()).add(key)
    found: dict[str, set[str]] = {}
    exact = [sa.and_(k.c.kind == kind, k.c.key.in_(sorted(keys))) for kind, keys in own.items() if kind != "nametok"]
    if exact:
        for other_id, kind in conn.execute(
            sa.select(k.c.account_id, k.c.kind).where(sa.or_(*exact), k.c.account_id != account_id)
        ):
            found.setdefault(other_id, set()).add(kind)
    for other_id in _close_names(conn, account_id, own.get("name", set()), own.get("nametok", set())):
        found.setdefault(other_id, set()).add("name")
    return {other_id: [r for r in REASON_ORDER if r in why] for other_id, why in found.items()}


def _worth_proposing(a: Account, b: Account, reasons: list[str]) -> bool:
    if a.lifecycle_stage in EARLY_STAGES or b.lifecycle_stage in EARLY_STAGES:
        return True
    return a.owner_id != b.owner_id and bool(STRONG_REASONS.intersection(reasons))


def _older_first(a: Account, b: Account) -> tuple[Account, Account]:
    return (a, b) if (a.created_at, a.id) <= (b.created_at, b.id) else (b, a)


def _pair(a: str, b: str) -> Any:
    mp = MergeProposal
    return sa.or_(
        sa.and_(col(mp.account_id) == a, col(mp.duplicate_id) == b),
        sa.and_(col(mp.account_id) == b, col(mp.duplicate_id) == a),
    )


def _strength(reasons: list[str]) -> tuple[int, ...]:
    return (-len(reasons), *(REASON_ORDER.index(r) for r in reasons))


def propose_merges(session: Session, account_id: str) -> list[MergeProposal]:
    """Offer a merge of this account with each account that looks like it: one proposal per
    pair whatever the order (an open one gains the new reasons; a dismissed one stays
    dismissed), the older account as the one to keep. The proposals made."""
    account = session.get(Account, account_id)
    if account is None:
        return []
    found = matching_accounts(session, account_id)
    if not found:
        return []
    mp = MergeProposal
    known: dict[str, MergeProposal] = {}
    for chunk in chunks(sorted(found)):
        for proposal in session.exec(
            select(mp).where(
                sa.or_(
                    sa.and_(col(mp.account_id) == account_id, col(mp.duplicate_id).in_(chunk)),
                    sa.and_(col(mp.duplicate_id) == account_id, col(mp.account_id).in_(chunk)),
                )
            )
        ):
            known[proposal.duplicate_id if proposal.account_id == account_id else proposal.account_id] = proposal
    others = {
        a.id: a
        for chunk in chunks(sorted(found))
        for a in session.exec(select(Account).where(col(Account.id).in_(chunk)))
    }
    made: list[MergeProposal] = []
    for other_id, reasons in sorted(found.items(), key=lambda item: (_strength(item[1]), item[0])):
        other = others.get(other_id)
        if other is None or not _worth_proposing(account, other, reasons):
            continue
        if (existing := known.get(other_id)) is not None:
            if existing.status == "open" and set(reasons) - set(existing.reasons):
                existing.reasons = [r for r in REASON_ORDER if r in set(reasons) | set(existing.reasons)]
            continue
        if len(made) >= MAX_PROPOSALS_PER_ACCOUNT:
            break
        kept, duplicate = _older_first(account, other)
        made.append(MergeProposal(account_id=kept.id, duplicate_id=duplicate.id, reasons=reasons))
        session.add(made[-1])
    session.flush()
    return made


def identity_account(session: Session, mutation: Mutation) -> str | None:
    """The account whose identifiers this mutation may change (read before it is applied)."""
    fields = set(mutation.fields)
    if mutation.entity == "account" and (mutation.op == "create" or fields & IDENTITY_FIELDS):
        return mutation.id
    if mutation.entity != "contact":
        return None
    if mutation.op == "create":
        named = mutation.fields.get("account_id")
        return named if isinstance(named, str) else None
    if mutation.op == "delete" or fields & CONTACT_IDENTITY_FIELDS:
        contact = session.get(Contact, mutation.id)
        return contact.account_id if contact is not None else None
    return None


def find_duplicates(session: Session, account_ids: Iterable[str]) -> None:
    """After a push: index the accounts it changed and propose merges for them.

    Under the duplicate keys' lock (PostgreSQL), taken here and held to the push's commit: two
    pushes bringing the same company at once see each other's keys, and the second one finds
    the first's lead. A failure here is logged and leaves the push whole: a duplicate check
    never holds up a rep's sync.
    """
    ids = sorted(set(account_ids))
    if not ids:
        return
    try:
        with savepoint(session):
            index_accounts(session, ids)  # takes the duplicate keys' lock
            for account_id in ids:
                propose_merges(session, account_id)
    except Exception:  # whatever it is (a database refusal, an identifier no parser expected)
        logger.exception("duplicate check after a push failed for accounts %s", ids)


# Merge --------------------------------------------------------------------------------------
@dataclass
class MergeOutcome:
    kept: Account
    duplicate_id: str
    #: Records moved to the kept account, by entity.
    moved: dict[str, int] = field(default_factory=dict)


#: Fields filled together or not at all: half an address from each account is no address.
_GROUPS = (
    ("billing_street", "billing_postcode", "billing_city", "billing_country", "billing_lat", "billing_lon"),
    ("shipping_street", "shipping_postcode", "shipping_city", "shipping_country", "shipping_lat", "shipping_lon"),
    ("competitor", "competitor_contract_end"),
    ("first_touch_at", "origin", "origin_campaign_id"),
)
#: Fields a merge handles on their own terms, or never takes from the duplicate.
_NOT_FILLED = frozenset(
    {"name", "notes", "tags", "social_profiles", "lifecycle_stage", "lost_reason", "payment_terms_days", "currency"}
)
#: The lifecycle, from the least to the furthest along: a merge keeps the furthest.
_STAGE_RANK = {s: n for n, s in enumerate(("lost", "suspect", "lead", "prospect", "buyer", "client", "ambassador"))}
_NOTES_LENGTH = 10_000
#: What makes the kept account itself: never taken from the other.
_OWN_FIELDS = frozenset({"id", "version", "updated_at", "created_at", "owner_id"})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _group_empty(account: Account, group: tuple[str, ...]) -> bool:
    # A country alone (FR by default) is no address.
    return all(_empty(getattr(account, name)) for name in group if not name.endswith("_country"))


def _fill(kept: Account, duplicate: Account, decided_by: str) -> list[LifecycleStageChange]:
    """Give the kept account what only the duplicate knew. The stage changes it makes."""
    grouped = {name for group in _GROUPS for name in group}
    for group in _GROUPS:
        if group[0] == "first_touch_at":
            earlier = duplicate.first_touch_at is not None and (
                kept.first_touch_at is None or duplicate.first_touch_at < kept.first_touch_at
            )
            if earlier or (kept.first_touch_at is None and kept.origin is None):
                for name in group:
                    setattr(kept, name, getattr(duplicate, name))
        elif _group_empty(kept, group) and not _group_empty(duplicate, group):
            for name in group:
                setattr(kept, name, getattr(duplicate, name))
    for name in Account.model_fields:
        if name in grouped or name in _NOT_FILLED or name in _OWN_FIELDS:
            continue
        if _empty(getattr(kept, name)) and not _empty(getattr(duplicate, name)):
            setattr(kept, name, getattr(duplicate, name))
    if duplicate.notes and duplicate.notes.strip():
        notes = f"{kept.notes}\n\n{duplicate.name}: {duplicate.notes}" if kept.notes else duplicate.notes
        kept.notes = notes if len(notes) <= _NOTES_LENGTH else notes[: _NOTES_LENGTH - 1] + "…"
    if duplicate.tags:
        kept.tags = [*kept.tags, *(t for t in duplicate.tags if t not in kept.tags)]
    if duplicate.social_profiles:
        kept.social_profiles = {**duplicate.social_profiles, **kept.social_profiles}
    changes = []
    if _STAGE_RANK.get(duplicate.lifecycle_stage, 0) > _STAGE_RANK.get(kept.lifecycle_stage, 0):
        changes.append(
            LifecycleStageChange(
                account_id=kept.id,
                from_stage=kept.lifecycle_stage,
                to_stage=duplicate.lifecycle_stage,
                changed_by=decided_by,
            )
        )
        kept.lifecycle_stage = duplicate.lifecycle_stage
        if kept.lifecycle_stage != "lost":
            kept.lost_reason = None
    return changes


def _move_records(session: Session, duplicate_id: str, kept_id: str) -> dict[str, int]:
    """Every record under the duplicate goes under the kept account, each through the ORM: its
    version is bumped and the change log sends it to the kept account's owner."""
    has_primary = (
        session.exec(select(Contact.id).where(Contact.account_id == kept_id, col(Contact.is_primary)).limit(1)).first()
        is not None
    )
    moved: dict[str, int] = {}
    for name, model in ENTITIES.items():
        if name == "account" or "account_id" not in table_of(model).c:
            continue
        rows = session.exec(select(model).where(getattr(model, "account_id") == duplicate_id)).all()  # noqa: B009
        for row in rows:
            setattr(row, "account_id", kept_id)  # noqa: B010
            if isinstance(row, Contact) and has_primary:
                row.is_primary = False  # the kept account's main contact stays its main contact
        if rows:
            moved[name] = len(rows)
    return moved


def _repoint(session: Session, merged: MergeProposal, kept: Account, duplicate_id: str) -> None:
    """Proposals naming the merged-away account now name the kept one (or go, when the kept
    one already has its own with that account); a dismissal carries over."""
    mp = MergeProposal
    for proposal in session.exec(
        select(mp).where(
            col(mp.id) != merged.id, sa.or_(col(mp.account_id) == duplicate_id, col(mp.duplicate_id) == duplicate_id)
        )
    ).all():
        if proposal.status == "merged":
            if proposal.account_id == duplicate_id:  # an account merged into the duplicate earlier
                proposal.account_id = kept.id
            continue
        other_id = proposal.duplicate_id if proposal.account_id == duplicate_id else proposal.account_id
        other = session.get(Account, other_id)
        clash = session.exec(select(mp).where(_pair(kept.id, other_id))).first() if other is not None else None
        if other is None or other_id == kept.id or clash is not None:
            if clash is not None and clash.status == "open" and proposal.status == "dismissed":
                clash.status, clash.decided_at, clash.decided_by = "dismissed", proposal.decided_at, proposal.decided_by
            session.delete(proposal)
            continue
        first, second = _older_first(kept, other)
        proposal.account_id, proposal.duplicate_id = first.id, second.id
    session.flush()


def merge_accounts(session: Session, proposal: MergeProposal, decided_by: str, keep: str | None = None) -> MergeOutcome:
    """Merge the proposal's two accounts into one: `keep` (one of the two; default the
    proposal's, the older) gets every record of the other, its empty fields filled from the
    other's (notes appended, tags united, the earliest first touch and its origin, the furthest
    stage), and the other is deleted. The caller commits. Raises MergeRefused."""
    if proposal.status != "open":
        raise MergeRefused(f"this proposal is already {proposal.status}")
    if keep is not None and keep not in (proposal.account_id, proposal.duplicate_id):
        raise MergeRefused(
            f"keep: {keep!r} is not one of this proposal's accounts ({proposal.account_id} or {proposal.duplicate_id})"
        )
    # Row locks (PostgreSQL): a push adding a record under either account finishes first, so
    # the listing below sees it; one starting now waits and then finds the duplicate gone.
    accounts = {
        a.id: a
        for a in session.exec(
            select(Account)
            .where(col(Account.id).in_([proposal.account_id, proposal.duplicate_id]))
            .order_by(col(Account.id))
            .with_for_update()
        )
    }
    if len(accounts) != 2:
        raise MergeRefused("one of the two accounts no longer exists: this proposal can only be dismissed")
    kept_id = keep or proposal.account_id
    duplicate_id = proposal.duplicate_id if kept_id == proposal.account_id else proposal.account_id
    kept, duplicate = accounts[kept_id], accounts[duplicate_id]
    session.add_all(_fill(kept, duplicate, decided_by))
    moved = _move_records(session, duplicate.id, kept.id)
    session.flush()
    session.delete(duplicate)  # a purge on its owner's devices; nothing is left under it
    session.flush()
    index_accounts(session, [kept.id, duplicate.id])
    proposal.account_id, proposal.duplicate_id = kept.id, duplicate.id
    proposal.status, proposal.decided_at, proposal.decided_by = "merged", utcnow(), decided_by
    session.flush()
    _repoint(session, proposal, kept, duplicate.id)
    propose_merges(session, kept.id)
    return MergeOutcome(kept, duplicate.id, moved)


def dismiss_proposal(proposal: MergeProposal, decided_by: str) -> None:
    """The two accounts are different companies: never proposed again."""
    if proposal.status != "open":
        raise MergeRefused(f"this proposal is already {proposal.status}")
    proposal.status, proposal.decided_at, proposal.decided_by = "dismissed", utcnow(), decided_by


# Late changes ---------------------------------------------------------------------------------
def merged_into(session: Session, account_id: str) -> str | None:
    """The account this one was merged into (through any later merges), or None."""
    current, seen = account_id, {account_id}
    while True:
        kept = session.exec(
            select(MergeProposal.account_id).where(
                MergeProposal.duplicate_id == current, MergeProposal.status == "merged"
            )
        ).first()
        if kept is None or kept in seen:
            return None if current == account_id else current
        seen.add(kept)
        current = kept


def named_account(mutation: Mutation) -> str | None:
    """The account a mutation changes or creates a record under, if a merge may have taken it."""
    if mutation.entity == "account" and mutation.op == "update":
        named: Any = mutation.id
    elif mutation.op == "create" and mutation.entity != "account":
        named = mutation.fields.get("account_id")
    else:
        return None
    return named if isinstance(named, str) else None


def redirect_merged(session: Session, mutation: Mutation, existing: AbstractSet[str] = frozenset()) -> Mutation:
    """A change from a device that still names a merged-away account, made for the account it
    was merged into: a record created under it goes under the kept account, and a change of it
    changes the kept account (as a fresh edit: the device's base version was of the other).

    `existing`: accounts known to exist (read for a whole push), which need no look-up."""
    named = named_account(mutation)
    if named is None or named in existing or _account_exists(session, named):
        return mutation
    kept_id = merged_into(session, named)
    if kept_id is None or (kept := session.get(Account, kept_id)) is None:
        return mutation
    if mutation.entity == "account":
        return mutation.model_copy(update={"id": kept.id, "base_version": kept.version})
    return mutation.model_copy(update={"fields": {**mutation.fields, "account_id": kept.id}})


def _account_exists(session: Session, account_id: str) -> bool:
    # Not session.get: the account loaded whole and let go at once would be loaded again by the
    # change itself (the session keeps only the records someone holds).
    account = table_of(Account)
    found = session.connection().execute(sa.select(account.c.id).where(account.c.id == account_id)).first()
    return found is not None


def merged_away_after_pull(session: Session, account_id: str, owners: list[str], pulled_through: int) -> bool:
    """Whether an account of these owners was merged into this one after the device's last pull:
    the device still showed it as the rep's when the change was made, so the change stands."""
    mp, log = MergeProposal, ChangeLog
    found = session.exec(
        select(log.seq)
        .join(mp, col(mp.duplicate_id) == col(log.row_id))
        .where(
            mp.account_id == account_id,
            mp.status == "merged",
            log.entity == "account",
            log.op == "delete",
            col(log.owner_id).in_(owners),
            col(log.seq) > pulled_through,
        )
        .limit(1)
    ).first()
    return found is not None
