"""Errors the API answers with: `{"detail": <for a person>, "code": <for the app>}`.

`code` tells a device what to do beyond showing the detail: `device_revoked` and
`user_inactive` make it wipe its replica and return to the sign-in screen; `client_too_old`
(426) asks the rep to update the app; `server_too_old` (400) says the app is newer than the
server, which must be updated first (sync/wire.py: SCHEMA_VERSION).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

__all__ = [
    "CLIENT_TOO_OLD",
    "DEVICE_REVOKED",
    "SERVER_TOO_OLD",
    "USER_INACTIVE",
    "ApiError",
    "ErrorBody",
    "api_error_handler",
    "ERROR_RESPONSES",
]

DEVICE_REVOKED = "device_revoked"
USER_INACTIVE = "user_inactive"
CLIENT_TOO_OLD = "client_too_old"
SERVER_TOO_OLD = "server_too_old"


class ApiError(HTTPException):
    def __init__(
        self, status_code: int, detail: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.code = code


class ErrorBody(BaseModel):
    #: What went wrong, for a person; for a malformed request, FastAPI's list of each field and why.
    detail: str | list[dict[str, Any]]
    code: str | None = None


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code, headers=exc.headers)


#: The error answers every route may give, documented in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "The request cannot be read (code `server_too_old`: the app is newer than this server)",
    },
    401: {"model": ErrorBody, "description": "Not signed in, or the session or device was ended"},
    403: {"model": ErrorBody, "description": "The role does not allow it"},
    404: {"model": ErrorBody, "description": "No such record within the caller's reach"},
    409: {"model": ErrorBody, "description": "Conflicts with a record saved meanwhile"},
    410: {"model": ErrorBody, "description": "The cursor is older than the server keeps: pull from scratch"},
    413: {"model": ErrorBody, "description": "The request body is too large"},
    422: {"model": ErrorBody, "description": "A field is missing or wrong: `detail` says which and why"},
    426: {"model": ErrorBody, "description": "This version of the app is too old: update it (`client_too_old`)"},
    429: {
        "model": ErrorBody,
        "description": "Too many attempts: wait `Retry-After` seconds",
        "headers": {"Retry-After": {"required": True, "schema": {"type": "integer"}}},
    },
}
