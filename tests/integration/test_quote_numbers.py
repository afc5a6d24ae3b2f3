"""Quote numbers: a provisional number made on the device that no other device can make, and a
legal number given by the server at sync, in sequence for the year, without gaps, even with
three devices pushing at once to the real server (uvicorn) on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable

import httpx
from sqlmodel import Session, col, select

from app.edits import pending_changes
from app.ids import utcnow
from app.models import Account, Product, Quote
from app.quotes import create_quote
from server.db import ServerSession
from server.models import User
from sync.engine import SyncEngine
from tests.conftest import LiveServer

QUOTES = 1_000


def test_a_thousand_quotes_from_three_devices_get_a_thousand_legal_numbers_in_sequence(
    live_server: LiveServer, live_devices: Callable[..., SyncEngine]
) -> None:
    engines = [
        live_devices("alice", "alice-phone"),
        live_devices("alice", "alice-laptop"),
        live_devices("bruno", "bruno-phone"),
    ]
    prefixes = {device.state()["device_number"] for device in engines}
    assert len(prefixes) == 3 and None not in prefixes  # each device has a number of its own
    rng = random.Random(3)
    made: dict[str, str] = {}  # quote id -> provisional number
    doomed = None
    with ServerSession(live_server.engine) as session:
        withdrawn = session.exec(select(Product).where(Product.active).order_by(col(Product.sku).desc())).first()
        assert withdrawn is not None
    for index, device in enumerate(engines):
        with Session(device.replica) as session:
            accounts = session.exec(select(Account.id)).all()
            products = [p.id for p in session.exec(select(Product).where(Product.active, Product.id != withdrawn.id))]
            share = QUOTES // 3 + (1 if index < QUOTES % 3 else 0)
            for _ in range(share):
                lines = [{"product_id": p, "quantity": rng.randint(1, 12)} for p in rng.sample(products, 2)]
                quote = create_quote(session=session, account_id=rng.choice(accounts), lines=lines)
                made[quote.id] = quote.provisional_number
            if index == 0:  # and one for a product the server withdraws before it hears of it
                lines = [{"product_id": withdrawn.id, "quantity": 1}]
                doomed = create_quote(session=session, account_id=accounts[0], lines=lines).id
    assert len(made) == QUOTES and len(set(made.values())) == QUOTES
    with ServerSession(live_server.engine) as session:
        gone = session.get(Product, withdrawn.id)
        assert gone is not None
        gone.active = False
        session.commit()
    errors: list[BaseException] = []

    def sync(device: SyncEngine) -> None:
        try:
            device.sync()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(device,)) for device in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    year = utcnow().year
    with ServerSession(live_server.engine) as session:
        stored = session.exec(select(Quote).where(col(Quote.id).in_([*made, doomed]))).all()
    assert doomed not in {q.id for q in stored}  # refused: its product is no longer sold...
    assert {q.id: q.provisional_number for q in stored} == made  # each keeps its provisional number
    numbers = sorted(int(re.fullmatch(rf"Q-{year}-(\d{{6}})", q.legal_number or "")[1]) for q in stored)  # type: ignore[index]
    assert numbers == list(range(1, QUOTES + 1))  # ...and gave its number back: none skipped, none twice
    # Each device sees the legal numbers of its quotes after its next pull.
    with Session(engines[2].replica) as session:
        mine = session.exec(select(Quote).where(col(Quote.id).in_(list(made)))).all()
    assert mine and all(q.legal_number and q.legal_number.startswith(f"Q-{year}-") for q in mine)
    with Session(engines[0].replica) as session:
        refused = pending_changes(session=session)["rejected"]
    assert [r["id"] for r in refused] == [doomed] and "no longer sold" in refused[0]["reason"]


def test_a_provisional_number_of_another_device_is_refused(
    live_server: LiveServer, live_devices: Callable[..., SyncEngine]
) -> None:
    phone, laptop = live_devices("alice", "phone"), live_devices("alice", "laptop")
    with Session(phone.replica) as session:
        account = session.exec(select(Account.id)).first()
        product = session.exec(select(Product.id).where(Product.active)).first()
        assert account is not None and product is not None
        quote = create_quote(session=session, account_id=account, lines=[{"product_id": product, "quantity": 1}])
    body = {
        "client_id": laptop.state()["device_id"],
        "schema_version": 1,
        "mutations": [
            {
                "mid": 1,
                "entity": "quote",
                "id": "0192f3e4-0000-7000-8000-00000000beef",
                "op": "create",
                "fields": {
                    "account_id": account,
                    "provisional_number": quote.provisional_number,  # the phone's, sent by the laptop
                    "lines": [{"product_id": product, "quantity": 1}],
                },
            }
        ],
    }
    with httpx.Client(base_url=live_server.url) as client:
        answer = client.post(
            "/api/v1/sync/push", json=body, headers={"Authorization": f"Bearer {laptop._access_token}"}
        ).json()
    assert answer["results"][0]["status"] == "rejected"
    assert f"is not one of this device's (P{laptop.state()['device_number']}-...)" in answer["results"][0]["reason"]
    with ServerSession(live_server.engine) as session:
        assert session.exec(select(User).where(User.username == "alice")).one()
        assert session.get(Quote, "0192f3e4-0000-7000-8000-00000000beef") is None
