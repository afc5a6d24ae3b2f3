"""Alembic migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import app.models  # noqa: F401
import server.models  # noqa: F401
from server.db import make_engine
from server.migrate import current_revision, head_revision, server_table_names, upgrade


def _differences(engine: Engine) -> list[object]:
    tables = server_table_names()
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parents: kind != "table" or name in tables,
                "include_object": lambda _obj, name, kind, _reflected, _other: kind != "table" or name in tables,
            },
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_migrating_an_empty_database_gives_exactly_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_migrating_twice_changes_nothing(server_engine: Engine) -> None:
    upgrade(server_engine)
    assert current_revision(server_engine) == head_revision()
    assert _differences(server_engine) == []
