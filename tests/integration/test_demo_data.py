"""The demo company: realistic, spread over three reps, and the same for the same seed and day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from app.models import ENTITIES, Account, Contact, Invoice, Order, Product, Ticket, Visit, entity_table
from server.db import ServerSession, make_engine
from server.demo import load_demo_data, load_towns
from server.migrate import upgrade
from server.models import User
from tests.conftest import DEMO_DAY


def _dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.select(entity_table(name)).order_by(entity_table(name).c.id))]
            for name in ENTITIES
        }


def test_the_same_seed_and_day_give_the_same_company(tmp_path: Path) -> None:
    dumps = []
    for run in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / run}.db")
        upgrade(engine)
        with ServerSession(engine) as session:
            load_demo_data(session=session, seed=7, today=DEMO_DAY)
        dumps.append(_dump(engine))
        engine.dispose()
    assert dumps[0]["account"] and dumps[0] == dumps[1]


def test_demo_company_has_what_a_rep_needs_to_try_terrain(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        users = {u.username: u for u in session.exec(select(User))}
        assert set(users) == {"alice", "bruno", "chloe", "manon"}
        assert {users[r].manager_id for r in ("alice", "bruno", "chloe")} == {users["manon"].id}
        per_rep = dict(session.exec(select(Account.owner_id, func.count()).group_by(Account.owner_id)).all())  # type: ignore[arg-type]
        assert sum(per_rep.values()) >= 300 and set(per_rep) == {users[r].id for r in ("alice", "bruno", "chloe")}
        assert min(per_rep.values()) >= 100
        towns = {t.name: t for t in load_towns()}
        for account in session.exec(select(Account)):
            town = towns[account.billing_city]  # type: ignore[index]
            assert abs(account.billing_lat - town.lat) < 0.05 and abs(account.billing_lon - town.lon) < 0.05  # type: ignore[operator]
            assert 41 < town.lat < 51.2 and -5 < town.lon < 9.6  # metropolitan France
        assert session.exec(select(func.count()).select_from(Contact).where(Contact.birthday.is_not(None))).one() > 300  # type: ignore[union-attr]
        assert session.exec(select(func.count()).select_from(Product)).one() >= 30
        first, last = session.exec(select(func.min(Order.ordered_at), func.max(Order.ordered_at))).one()
        assert last - first > timedelta(days=730)
        overdue = session.exec(
            select(func.count()).select_from(Invoice).where(Invoice.status == "open", Invoice.due_on < DEMO_DAY)
        ).one()
        assert overdue > 10
        monday = datetime.combine(DEMO_DAY - timedelta(days=DEMO_DAY.weekday()), datetime.min.time(), UTC)
        upcoming = session.exec(
            select(func.count())
            .select_from(Visit)
            .where(Visit.starts_at >= monday, Visit.starts_at < monday + timedelta(days=14))
        ).one()
        assert upcoming >= 3 * 3 * 10
        assert session.exec(select(func.count()).select_from(Ticket).where(Ticket.status == "open")).one() >= 3
