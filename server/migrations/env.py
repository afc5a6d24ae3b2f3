"""Alembic environment: the server's tables are the CRM entities plus the server-only ones."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the entity tables)
import server.models  # noqa: F401  (registers the server tables)
from server.migrate import server_table_names

config = context.config
target_metadata = SQLModel.metadata
_TABLES = server_table_names()


def _include(name: str | None, type_: str, _parent_names: Any) -> bool:
    return type_ != "table" or name in _TABLES


def _include_object(_obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    # Replica-only tables (sync/) share SQLModel's metadata when imported; they are not the server's.
    return type_ != "table" or name in _TABLES


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `terrain-server migrate`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Each revision commits on its own: one may step out of its transaction to build an
        # index CONCURRENTLY (`op.get_context().autocommit_block()`), never taking the others with it.
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
