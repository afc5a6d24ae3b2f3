"""Schemathesis against the served API (uvicorn on 127.0.0.1, the demo company), signed in as
the rep alice: a few hundred generated requests, none answered with a server error or outside
the OpenAPI document. `bench/fuzz_api.py` runs the same with every phase and more than 1,000
requests. Then, on both backends, the refusals at the edge that fuzzing asked for.

The fuzz runs on SQLite only: it costs twice as long on PostgreSQL, where the bench runs it on
demand (`--database-url`)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bench.fuzz_api import fuzz_api
from tests.conftest import sign_in

#: Fuzzing with valid data, then with invalid data, and short stateful sequences; the bench adds
#: the coverage phase (every parameter's edge cases: some 2,300 requests).
SUITE_PASSES = (
    {"fuzzing": "positive", "stateful": "positive"},
    {"fuzzing": "negative"},
)
NUL_REFUSED = "text cannot hold the NUL character (U+0000)"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    demo_engine: Engine, tmp_path: Path
) -> None:
    figures = fuzz_api(engine=demo_engine, data_dir=tmp_path, examples=4, seed=8, passes=SUITE_PASSES)
    print(f"api fuzz: {figures.line()}")  # noqa: T201 - the figures the issue asks for
    reports = "\n".join(figures.reports)
    # A run that sent nothing (the server not reached, every operation skipped) proves nothing.
    assert figures.requests > 100, reports
    assert figures.server_errors == 0, reports
    assert figures.schema_violations == 0, reports
    assert figures.other_failures == 0, reports


def _push(api: TestClient, headers: dict[str, str], device_id: str, *mutations: dict[str, object]) -> httpx.Response:
    body = {"client_id": device_id, "schema_version": 1, "mutations": list(mutations)}
    answer: httpx.Response = api.post("/api/v1/sync/push", json=body, headers=headers)
    return answer


def test_a_nul_character_is_refused_where_it_arrives_and_in_a_push_only_its_change(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    headers = sign_in(api, "alice", device_id=device_id)
    refused = {
        ("query", "q"): api.get("/api/v1/accounts", params={"q": "a\x00b"}, headers=headers),
        ("path", "account_id"): api.get("/api/v1/accounts/a%00b", headers=headers),
        ("body", "username"): api.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "al\x00ice", "password": "x", "device_id": device_id},
        ),
        ("body", "mutations", 0, "id"): _push(
            api, headers, device_id, {"mid": 1, "entity": "contact", "id": "c\x00", "op": "delete"}
        ),
    }
    for where, answer in refused.items():
        assert answer.status_code == 422, (where, answer.text)
        assert answer.json()["detail"] == [{"loc": list(where), "msg": NUL_REFUSED, "type": "nul_character"}]
    # A push's changes are judged one by one: the one with a NUL is refused, the next applied.
    answer = _push(
        api,
        headers,
        device_id,
        {"mid": 2, "entity": "account", "id": str(uuid.uuid4()), "op": "create", "fields": {"name": "Nul\x00"}},
        {"mid": 3, "entity": "account", "id": str(uuid.uuid4()), "op": "create", "fields": {"name": "Plain"}},
    )
    results = answer.json()["results"]
    assert [(r["status"], r["reason"]) for r in results] == [("rejected", f"name: {NUL_REFUSED}"), ("applied", None)]


def test_numbers_beyond_what_the_database_holds_are_refused_with_the_field(api: TestClient) -> None:
    device_id = str(uuid.uuid4())
    headers = sign_in(api, "alice", device_id=device_id)
    huge = 2**63
    listing = api.get("/api/v1/accounts", params={"offset": huge}, headers=headers)
    assert listing.status_code == 422 and listing.json()["detail"][0]["loc"] == ["query", "offset"]
    push = _push(api, headers, device_id, {"mid": huge, "entity": "contact", "id": "x", "op": "delete"})
    assert push.status_code == 422
    assert push.json()["detail"][0]["loc"] == ["body", "mutations", 0, "mid"]
    # Payment terms of 10**20 days: refused with the field, as any wrong field of a change.
    account = {"mid": 1, "entity": "account", "id": str(uuid.uuid4()), "op": "create"}
    answer = _push(api, headers, device_id, {**account, "fields": {"name": "Far", "payment_terms_days": 10**20}})
    (result,) = answer.json()["results"]
    assert result["status"] == "rejected" and result["reason"].startswith("payment_terms_days:")


def test_a_method_a_path_does_not_take_is_answered_with_every_method_it_takes(api: TestClient) -> None:
    assert api.request("OPTIONS", "/api/v1/accounts").headers["allow"] == "GET, POST"
    assert api.put("/api/v1/contacts/x").headers["allow"] == "DELETE, GET, PATCH"
    # /users/me is a resource of its own, though PATCH /users/{user_id} would take its path.
    answer = api.request("OPTIONS", "/api/v1/users/me")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"
