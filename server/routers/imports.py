"""Imports from the ERP's CSV exports, by a manager for their team (an admin: for everyone).

The same checks as `terrain-server import` (`server.imports`): every row first, nothing
imported while one is bad unless `skip_bad_rows`; within the caller's reach only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, UploadFile, status
from pydantic import BaseModel

from server.audit import record
from server.deps import CurrentManager, SessionDep
from server.imports import import_accounts, import_orders
from server.scope import scope_owner_ids

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])


class BadRow(BaseModel):
    line: int
    reason: str


class ImportAnswer(BaseModel):
    imported: bool
    created: int
    updated: int
    unchanged: int
    bad_rows: list[BadRow]


@router.post("/{kind}", response_model=ImportAnswer)
async def import_file(
    kind: Literal["accounts", "orders"],
    file: UploadFile,
    session: SessionDep,
    manager: CurrentManager,
    skip_bad_rows: Annotated[bool, Query(description="import the good rows and list the bad ones")] = False,
) -> ImportAnswer:
    """A CSV file (UTF-8) of accounts or orders; see `terrain-server import --help` for columns."""
    data = await file.read()
    if not data:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "file: the file is empty")
    owners = scope_owner_ids(session, manager)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "import.csv"
        path.write_bytes(data)
        if kind == "accounts":
            report = import_accounts(
                session=session, path=path, skip_bad_rows=skip_bad_rows, owner_ids=owners, default_owner=manager.id
            )
        else:
            report = import_orders(session=session, path=path, skip_bad_rows=skip_bad_rows, owner_ids=owners)
    if report.imported:
        record(
            session,
            action="import",
            entity=kind,
            count=report.created + report.updated,
            detail=f"{file.filename or 'file'}: {report.created} created, {report.updated} updated",
        )
        session.commit()
    return ImportAnswer(
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        bad_rows=[BadRow(line=n, reason=r) for n, r in report.bad_rows],
    )
