"""Schemathesis against the served API, signed in as a rep: no generated request may get a
server error, nor an answer its OpenAPI document does not describe.

    .venv/bin/python bench/fuzz_api.py [--examples 12] [--seed 8] [--database-url URL]

1. Loads the demo company into a temporary SQLite database (or into the empty PostgreSQL
   database `--database-url` names) and serves it with uvicorn on 127.0.0.1.
2. Signs in as the rep alice twice: the fuzzer sends the first device's token on every request
   (the sign-in endpoint is fuzzed with it too, where it is ignored); the second device is the
   one it may revoke, so that a revocation never cuts the fuzzer off.
3. Loads the served /openapi.json and runs schemathesis' coverage, fuzzing and stateful phases
   on every operation, with schema-valid and schema-invalid data and the checks in CHECKS.
   A push names alice's device and the current schema version (else every one stops at 403 or
   426), and an entity the server knows, so that its mutations reach the code applying them.
4. Counts, in an ASGI wrapper around the app, every request the server answered and every
   answer of 500 or above; counts the failed checks from schemathesis' own records.

Failures are printed with a curl command that replays them. The last line reads:
`requests=N server_errors=N schema_violations=N other_failures=N seconds=N`
Goals: requests >= 1000, and 0 for each other count (the exit code is 1 otherwise).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import schemathesis
import schemathesis.engine
import uvicorn
from schemathesis.engine import Status, events
from schemathesis.generation import GenerationMode
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.models import ENTITIES  # noqa: E402
from server.db import ServerSession, make_engine  # noqa: E402
from server.demo import load_demo_data  # noqa: E402
from server.main import create_app  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.settings import ServerSettings  # noqa: E402
from sync.wire import SCHEMA_VERSION  # noqa: E402

#: The demo company is centred on this day, as in the tests.
DEMO_DAY = date(2026, 11, 18)
#: The checks whose failure means an answer the OpenAPI document does not describe.
SCHEMA_CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
#: Every check run. Left out: `positive_data_acceptance`, which wants a 2xx for every
#: schema-valid request, while business rules refuse some with a 4xx that says why (a period of
#: more than ten years, a rep outside the caller's team, a wrong current password, a password
#: sign-in without a user name); and `object_level_authorization`, which needs a second
#: identity's resources (tests/integration/test_scope.py covers who reaches what).
#: `negative_data_rejection` stays: a schema-invalid request the server takes means the document
#: promises a check the server does not make.
CHECKS = (
    "not_a_server_error",
    *SCHEMA_CHECKS,
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
)
#: Schemathesis' runs, each of phases and the data each phase generates: "positive" (valid
#: by the schema), "negative" (invalid) or "all". The coverage phase sends the edge cases of
#: every parameter, valid and invalid. Invalid data is fuzzed in a run of its own: in mode
#: "all", an operation that can hardly have any (an id in its path, nothing else) costs
#: hypothesis seconds of filtering; alone, it is skipped at once.
PASSES: tuple[dict[str, str], ...] = (
    {"coverage": "all", "fuzzing": "positive", "stateful": "positive"},
    {"fuzzing": "negative"},
)
PUSH = "POST /api/v1/sync/push"
REVOKE = "POST /api/v1/devices/{device_id}/revoke"


class Tally:
    """Pure ASGI wrapper counting, while `counting` is set, the requests the app answers and its
    answers of 500 or above (an exception before any answer counts as one: uvicorn sends a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counting = False
        self.requests = 0
        self.server_errors = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.counting:
            await self.app(scope, receive, send)
            return
        started = False

        async def tallied(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self.requests += 1
                self.server_errors += message["status"] >= 500
            await send(message)

        try:
            await self.app(scope, receive, tallied)
        except Exception:
            if not started:
                self.requests += 1
                self.server_errors += 1
            raise


@dataclass
class FuzzFigures:
    requests: int = 0
    server_errors: int = 0
    #: Answers that failed a check of SCHEMA_CHECKS.
    schema_violations: int = 0
    #: Answers that failed any other check (not_a_server_error included), and the errors
    #: schemathesis met.
    other_failures: int = 0
    seconds: float = 0.0
    #: What failed, with a curl command that replays it.
    reports: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.server_errors == self.schema_violations == self.other_failures == 0

    def line(self) -> str:
        return (
            f"requests={self.requests} server_errors={self.server_errors} schema_violations={self.schema_violations}"
            f" other_failures={self.other_failures} seconds={self.seconds:.1f}"
        )


def _sign_in(url: str, device_name: str) -> tuple[str, str]:
    """(access token, device id) of alice on a new device."""
    device_id = str(uuid.uuid4())
    answer = httpx.post(
        f"{url}/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": "demo",
            "device_id": device_id,
            "device_name": device_name,
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"]), device_id


def _steer(*, device_id: str, spare_device_id: str) -> Any:
    """A `map_case` hook: pushes that get past the device and version checks, and revocations
    that spare the fuzzer's own device. Schema-invalid cases are left as generated, so that
    each keeps the error it was made to have."""
    entities = sorted(ENTITIES)

    def map_case(_context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
        label = case.operation.label
        if label == REVOKE and case.path_parameters.get("device_id") == device_id:
            case.path_parameters["device_id"] = spare_device_id
        if label != PUSH or case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
            return case
        mutations = case.body.get("mutations") if isinstance(case.body, dict) else None
        if isinstance(case.body, dict) and isinstance(mutations, list):
            case.body["client_id"] = device_id
            case.body["schema_version"] = SCHEMA_VERSION
            for mutation in mutations:
                if isinstance(mutation, dict) and mutation.get("entity") not in ENTITIES:
                    mutation["entity"] = entities[zlib.crc32(str(mutation.get("entity")).encode()) % len(entities)]
        return case

    return map_case


def _config(*, token: str, examples: int, seed: int, phases: dict[str, str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "headers": {"Authorization": f"Bearer {token}"},
            # Every request is sent and checked: no stopping at a first failure, no shrinking.
            "continue-on-failure": True,
            "workers": 1,
            "cache": {"enabled": False},
            "generation": {"max-examples": examples, "no-shrink": True, "database": "none"},
            "phases": {
                name: {"enabled": name in phases, "generation": {"mode": phases.get(name, "all")}}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "output": {"sanitization": {"enabled": True}},
        }
    )


def _tell(figures: FuzzFigures, event: events.EngineEvent) -> None:
    """Add the failed checks of a finished scenario, and any error schemathesis met, to the figures."""
    if isinstance(event, events.NonFatalError):
        figures.other_failures += 1
        figures.reports.append(f"error ({event.label}): {event.info.title}: {event.info.message}")
    elif isinstance(event, events.FatalError):
        figures.other_failures += 1
        figures.reports.append(f"fatal error: {event.exception!r}")
    elif isinstance(event, events.EngineFinished):
        figures.other_failures += len(event.failures)
        figures.reports.extend(f"after the run: {failure.title}" for failure in event.failures)
    if not isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        return
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        failed = [check for check in checks if check.status == Status.FAILURE]
        figures.schema_violations += any(check.name in SCHEMA_CHECKS for check in failed)
        figures.other_failures += any(check.name not in SCHEMA_CHECKS for check in failed)
        for check in failed:
            info = check.failure_info
            title = info.failure.title if info is not None else ""
            sample = info.code_sample if info is not None else ""
            message = info.failure.message if info is not None else ""
            figures.reports.append(
                f"{check.name} ({recorder.label}, case {case_id}): {title}\n    {message}\n    {sample}"
            )


def fuzz_api(
    *,
    engine: Engine,
    data_dir: Path,
    examples: int = 12,
    seed: int = 8,
    passes: tuple[dict[str, str], ...] = PASSES,
) -> FuzzFigures:
    """Serve the API over `engine` (holding the demo company) with uvicorn on 127.0.0.1, and fuzz
    it as alice in `passes` (see PASSES), with at most `examples` generated cases per operation
    in the fuzzing phase (the coverage phase sends its own set of edge cases)."""
    settings = ServerSettings(
        server_data_dir=data_dir,
        secret_key="fuzz-" + "k" * 40,
        # A long run still fuzzes as alice, not as a caller whose token ran out.
        access_token_minutes=120,
    )
    tally = Tally(create_app(engine=engine, settings=settings))
    server = uvicorn.Server(uvicorn.Config(tally, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    figures = FuzzFigures()
    try:
        token, device_id = _sign_in(url, "fuzzer")
        _spare_token, spare_device_id = _sign_in(url, "spare phone")
        steer = _steer(device_id=device_id, spare_device_id=spare_device_id)
        started = time.perf_counter()
        for phases in passes:
            config = _config(token=token, examples=examples, seed=seed, phases=phases)
            schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
            schema.hooks.register_hook_with_name(steer, "map_case")
            tally.counting = True
            for event in schemathesis.engine.from_schema(schema).execute():
                _tell(figures, event)
            tally.counting = False
        figures.seconds = time.perf_counter() - started
        # Still signed in: a run cut off on the way would have fuzzed the sign-in check alone.
        me = httpx.get(f"{url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if me.status_code != 200:
            figures.other_failures += 1
            figures.reports.append(f"the fuzzer was signed out during the run: {me.status_code} {me.text}")
    finally:
        server.should_exit = True
        thread.join(10)
    figures.requests, figures.server_errors = tally.requests, tally.server_errors
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=12, help="generated cases per operation (fuzzing phase)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = make_engine(args.database_url or f"sqlite:///{root / 'server.db'}")
        upgrade(engine)
        with ServerSession(engine) as session:
            load_demo_data(session=session, seed=42, today=DEMO_DAY)
        figures = fuzz_api(engine=engine, data_dir=root, examples=args.examples, seed=args.seed)
        engine.dispose()
    for report in figures.reports:
        print(report)
    print(figures.line())
    if figures.requests < 1000 or not figures.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
