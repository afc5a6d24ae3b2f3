"""The device's figures on a real, public purchase history equal those of an independent pandas
implementation, account by account.

The data set is CDNOW (Fader & Hardie): every CD purchase, from January 1997 to June 1998, of the
23,570 customers who first bought at CDNOW in the first quarter of 1997; it ships with the
`lifetimes` package (a dev dependency), whose file is read here without importing the package.
Each customer becomes an account of a real replica file and each purchase an order; the device's
services (`app.dashboard`) read them back. The pandas side reads the raw file by itself and follows
the definitions of `app.figures` in a few vectorised lines.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.dashboard import book_figures, book_rfm
from app.figures import rfm_segment
from app.ids import new_id
from app.models import Account, Order, table_of
from app.replica import open_replica

CUSTOMERS = 23_570
TRANSACTIONS = 69_659
FIRST_DAY, LAST_DAY = date(1997, 1, 1), date(1998, 6, 30)
WINDOW = pd.Timedelta(days=365)


def _cdnow_file() -> Path:
    spec = importlib.util.find_spec("lifetimes")  # locates the package without importing it
    assert spec is not None and spec.submodule_search_locations, "lifetimes (a dev dependency) is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"
    assert path.is_file(), f"{path} is missing"
    return path


@dataclass(frozen=True)
class Book:
    engine: Engine
    customer_of: dict[str, str]  # account id -> CDNOW customer id


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    """A real replica holding CDNOW: one account per customer, one delivered order per purchase."""
    lines = _cdnow_file().read_text().splitlines()
    assert lines[0].split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
    account_of: dict[str, str] = {}
    orders = []
    for number, line in enumerate(lines[1:], start=1):
        customer, day, _cds, dollars = line.split()
        cents = Decimal(dollars) * 100
        assert cents == cents.to_integral_value(), line
        account_id = account_of.setdefault(customer, new_id())
        orders.append(
            {
                "id": new_id(),
                "account_id": account_id,
                "number": f"CDNOW-{number}",
                "ordered_at": datetime.combine(datetime.strptime(day, "%Y%m%d").date(), time(12), tzinfo=UTC),
                "status": "delivered",
                "currency": "USD",
                "net_amount": int(cents),
                "tax_amount": 0,
                "gross_amount": int(cents),
            }
        )
    assert (len(account_of), len(orders)) == (CUSTOMERS, TRANSACTIONS)
    accounts = [
        {"id": a, "name": f"CDNOW customer {c}", "external_id": c, "currency": "USD", "lifecycle_stage": "client"}
        for c, a in account_of.items()
    ]
    engine = open_replica(tmp_path_factory.mktemp("cdnow"))
    with engine.begin() as conn:
        conn.execute(sa.insert(table_of(Account)), accounts)
        conn.execute(sa.insert(table_of(Order)), orders)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(table_of(Order))).scalar_one()
    assert stored == TRANSACTIONS
    yield Book(engine, {a: c for c, a in account_of.items()})
    engine.dispose()


@pytest.fixture(scope="module")
def purchases() -> pd.DataFrame:
    """The raw file read by pandas alone: customer, day, cents."""
    raw = pd.read_csv(_cdnow_file(), sep=r"\s+", dtype=str)
    assert raw["dollar_value"].str.fullmatch(r"\d+\.\d\d").all()  # so that dropping the point gives cents
    frame = pd.DataFrame(
        {
            "customer": raw["customer_id"],
            "day": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "cents": raw["dollar_value"].str.replace(".", "", regex=False).astype("int64"),
        }
    )
    assert frame["customer"].nunique() == CUSTOMERS and len(frame) == TRANSACTIONS
    assert (frame["day"].min().date(), frame["day"].max().date()) == (FIRST_DAY, LAST_DAY)
    return frame


def _in_window(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """The purchases of the 365 days before `day`."""
    d = pd.Timestamp(day)
    return frame[(frame["day"] >= d - WINDOW) & (frame["day"] < d)]


def _ceil_fifth(count: pd.Series, n: int) -> pd.Series:
    return (5 * count + n - 1) // n  # ceil(5 * count / n), in integers


def _pandas_rfm(frame: pd.DataFrame, day: date) -> dict[str, tuple[int, ...]]:
    per = (
        _in_window(frame, day)
        .groupby("customer")
        .agg(last=("day", "max"), frequency=("day", "size"), monetary=("cents", "sum"))
    )
    if per.empty:
        return {}
    n = len(per)
    per["recency"] = (pd.Timestamp(day) - per["last"]).dt.days
    # rank(method="max") of a value = how many values are <= it; descending: how many are >= it.
    per["r"] = _ceil_fifth(per["recency"].rank(method="max", ascending=False).astype("int64"), n)
    per["f"] = _ceil_fifth(per["frequency"].rank(method="max").astype("int64"), n)
    per["m"] = _ceil_fifth(per["monetary"].rank(method="max").astype("int64"), n)
    columns = ["recency", "frequency", "monetary", "r", "f", "m"]
    return {str(c): tuple(int(v) for v in row) for c, row in zip(per.index, per[columns].to_numpy(), strict=True)}


def _device_rfm(book: Book, day: date) -> dict[str, tuple[int, ...]]:
    with Session(book.engine) as session:
        scores = book_rfm(session=session, day=day)
    return {book.customer_of[a]: (s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m) for a, s in scores.items()}


def _differences(device: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> list[str]:
    keys = sorted(set(device) | set(expected))
    return [f"{k}: device {device.get(k)}, pandas {expected.get(k)}" for k in keys if device.get(k) != expected.get(k)]


@pytest.mark.parametrize(
    ("day", "accounts"),
    [
        (date(1997, 1, 1), 0),  # before the first purchase: an empty window
        (date(1997, 2, 15), None),  # the window starts long before the data
        (date(1998, 1, 1), CUSTOMERS),  # the window is 1997, when every customer bought
        (date(1998, 6, 30), None),  # the last day's purchases are not in its window
        (date(1998, 7, 1), None),  # they are in this one
        (date(1999, 1, 1), None),  # the window runs past the end of the data
        (date(1999, 7, 1), 0),  # after the data: empty again
    ],
    ids=str,
)
def test_rfm_on_cdnow_equals_pandas_for_every_customer(
    book: Book, purchases: pd.DataFrame, day: date, accounts: int | None
) -> None:
    expected = _pandas_rfm(purchases, day)
    if accounts is None:
        assert 0 < len(expected) < CUSTOMERS, len(expected)
    else:
        assert len(expected) == accounts
    device = _device_rfm(book, day)
    assert set(device) == set(expected), f"{len(set(device) ^ set(expected))} accounts differ"
    differences = _differences(device, expected)
    assert not differences, f"{len(differences)} of {len(expected)} accounts differ, e.g. {differences[:5]}"
    # Not vacuous: the scores use the whole scale wherever there are enough distinct values.
    if len(expected) > 1000:
        assert {v[3] for v in expected.values()} >= {1, 5} and {v[5] for v in expected.values()} == {1, 2, 3, 4, 5}


def _active(frame: pd.DataFrame, day: date) -> set[str]:
    return set(_in_window(frame, day)["customer"])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(1997, 7, 1), date(1998, 6, 30)),  # a year, inside the data
        (date(1998, 3, 1), date(1998, 6, 30)),  # some customers were already gone at the start
        (date(1997, 2, 1), date(1997, 12, 31)),  # starts while customers are still being acquired
        (date(1998, 6, 30), date(1999, 6, 30)),  # only the last day's buyers are active at the end
        (date(1998, 7, 1), date(1999, 7, 1)),  # nobody is active at the end: everyone churned
        (date(1997, 1, 1), date(1998, 6, 30)),  # nobody is active at the start: no rates
    ],
    ids=str,
)
def test_churn_on_cdnow_equals_pandas(book: Book, purchases: pd.DataFrame, start: date, end: date) -> None:
    at_start, at_end = _active(purchases, start), _active(purchases, end)
    first = purchases.groupby("customer")["day"].min()
    acquired = {c for c in at_end if pd.Timestamp(start) < first[c] <= pd.Timestamp(end)}
    churned = at_start - at_end
    period = purchases[(purchases["day"] >= pd.Timestamp(start)) & (purchases["day"] <= pd.Timestamp(end))]

    with Session(book.engine) as session:
        figures = book_figures(session=session, start=start, end=end)
        # The accounts the device counts as active at a day are those it scores in RFM as of that day.
        device_at_start = {book.customer_of[a] for a in book_rfm(session=session, day=start)}
        device_at_end = {book.customer_of[a] for a in book_rfm(session=session, day=end)}

    assert device_at_start == at_start and device_at_end == at_end
    assert (figures["active_at_start"], figures["active_at_end"]) == (len(at_start), len(at_end))
    assert (figures["orders"], figures["revenue_net_amount"]) == (len(period), int(period["cents"].sum()))
    if not at_start:
        assert figures["churn_rate"] is None and figures["acquisition_rate"] is None
    else:
        assert figures["churn_rate"] == pytest.approx(len(churned) / len(at_start), rel=1e-15)
        assert figures["acquisition_rate"] == pytest.approx(len(acquired) / len(at_start), rel=1e-15)
    # The segments as of the end are those of the pandas scores.
    scores = _pandas_rfm(purchases, end)
    assert figures["rfm_segments"] == dict(sorted(Counter(rfm_segment(*v[3:]) for v in scores.values()).items()))


def test_cdnow_periods_are_not_trivial(purchases: pd.DataFrame) -> None:
    """The periods above see churn at zero, strictly between zero and one, and at one, and accounts
    acquired: CDNOW's customers all made their first purchase in the first quarter of 1997."""
    year = _active(purchases, date(1997, 7, 1)), _active(purchases, date(1998, 6, 30))
    assert len(year[0]) == CUSTOMERS and 0 < len(year[0] - year[1]) < len(year[0])
    assert _active(purchases, date(1997, 2, 1)) <= _active(purchases, date(1997, 12, 31))
    first = purchases.groupby("customer")["day"].min()
    assert (first > pd.Timestamp(1997, 2, 1)).any() and first.max() < pd.Timestamp(1997, 4, 1)
    assert _active(purchases, date(1998, 7, 1)) and not _active(purchases, date(1999, 7, 1))


def test_cdnow_amounts_are_parsed_exactly(purchases: pd.DataFrame) -> None:
    """The pandas cents (from the text) equal the exact decimal amounts, not a float's rounding."""
    text = _cdnow_file().read_text().splitlines()[1:]
    exact = [int(Decimal(line.split()[3]) * 100) for line in text]
    assert purchases["cents"].tolist() == exact
    assert sum(exact) == 250_031_563  # $2,500,315.63, the data set's well-known total
