"""The sync endpoints a device talks to; the scope always comes from the token."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from server import observe
from server.audit import read_in_bulk
from server.deps import CurrentUser, SessionDep, check_client_schema, client_schema
from server.pull import BadCursor, CursorTooOld, page_records, pull_page
from server.push import apply_push
from sync.wire import PullPage, PushRequest, PushResponse

#: Every request names the app's schema (header); a device outside the server's window is refused.
router = APIRouter(prefix="/api/v1/sync", tags=["sync"], dependencies=[Depends(client_schema)])


@router.get("/pull", response_model=PullPage)
def pull(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """A page of the changes in the caller's scope after `cursor` (none: everything)."""
    settings = request.app.state.settings
    size = min(limit or settings.pull_page_default, settings.pull_page_max)
    try:
        page = pull_page(session=session, user=user, cursor=cursor, limit=size)
    except BadCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{exc}: pull again without a cursor") from exc
    except CursorTooOld as exc:  # compacted past it, or a server restored from a backup (CursorAhead)
        raise HTTPException(status.HTTP_410_GONE, f"{exc}: pull again without a cursor") from exc
    records = page_records(page)
    read_in_bulk(session, "sync", records, "pull")  # a first sync, or a long absence
    session.commit()  # the read ends here, in this request's thread (not in one more of the loop's)
    observe.record_pull(records)
    # Rows go out as they are read, without a pydantic round-trip per field: this is the hot path.
    body = orjson.dumps(page, option=orjson.OPT_UTC_Z)
    return Response(content=body, media_type="application/json")


@router.post("/push", response_model=PushResponse)
def push(request: Request, session: SessionDep, user: CurrentUser, body: PushRequest) -> Response:
    """Apply the device's mutations; each gets its own answer, and a retry is answered, not re-applied."""
    if body.client_id != request.state.device_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "client_id is not the device this token was given to")
    check_client_schema(body.schema_version)  # the body's, as every app has sent it since the first
    answer = apply_push(
        session=session,
        user=user,
        device_id=body.client_id,
        push=body,
        approval_bp=request.app.state.settings.quote_approval_discount_bp,
    )
    observe.record_push(answer.results)
    sender = getattr(request.app.state, "mail_sender", None)
    if sender is not None:
        emails = {m.mid for m in body.mutations if m.entity == "email_message"}
        if any(r.mid in emails and r.status == "applied" for r in answer.results):
            sender.wake()  # committed already: the e-mails leave now, not at the next round
    # Serialised once, by the model that built it (a model returned would be checked again).
    return Response(content=answer.model_dump_json(), media_type="application/json")
