"""The NUL character (U+0000) in requests: PostgreSQL's text cannot hold it, so one anywhere in
a request is refused where it arrives (422, saying where), not by the database in the middle of
a query (500). SQLite could store it; the rule is the same on both, so that data moves between
them.

A push is the exception: its changes are judged one by one (`server.push`), so a NUL in one
change's fields refuses that change alone and the others are applied.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status

__all__ = ["REFUSED", "nul_at", "refuse_nul"]

NUL = "\x00"
REFUSED = "text cannot hold the NUL character (U+0000)"

Location = tuple[str | int, ...]


def nul_at(value: Any, loc: Location = ()) -> Location | None:
    """Where the first NUL character is in a decoded JSON value (in a key or a text), if anywhere."""
    if isinstance(value, str):
        return loc if NUL in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and NUL in key:
            return (*loc, key)
        if (found := nul_at(item, (*loc, key))) is not None:
            return found
    return None


def _without_push_changes(body: Any) -> Any:
    """The body without its mutations' fields, which the push judges change by change."""
    if not (isinstance(body, dict) and isinstance(body.get("mutations"), list)):
        return body
    mutations = [
        {key: value for key, value in m.items() if key != "fields"} if isinstance(m, dict) else m
        for m in body["mutations"]
    ]
    return {**body, "mutations": mutations}


async def refuse_nul(request: Request) -> None:
    """A dependency of every route: 422 for a NUL in the path, the query, a form or a JSON body."""
    found = nul_at(request.path_params, ("path",))
    for name, value in request.query_params.multi_items():
        if found is None and NUL in name + value:
            found = ("query", name)
    content_type = request.headers.get("content-type", "")
    if found is None and content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            body = None  # not JSON: FastAPI says so itself
        found = nul_at(_without_push_changes(body), ("body",))
    elif found is None and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        for field, content in (await request.form()).multi_items():
            if found is None and isinstance(content, str) and NUL in field + content:
                found = ("body", field)
    if found is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": list(found), "msg": REFUSED, "type": "nul_character"}]
        )
