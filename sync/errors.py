"""What can go wrong in a sync, as one exception tree:

SyncError
├── TransportError      the server could not be reached or did not answer in time
├── AuthError           wrong password, or the session ended: sign in again
├── ServerError         the server answered with an error of its own (5xx)
├── RequestRejected     the server refused the request as malformed (4xx), with its reason
└── CursorExpired       the cursor is older than the server keeps: start from scratch
"""

from __future__ import annotations

__all__ = ["AuthError", "CursorExpired", "RequestRejected", "ServerError", "SyncError", "TransportError"]


class SyncError(Exception):
    """Base of every sync failure; its message is meant for the person using the app."""


class TransportError(SyncError):
    pass


class AuthError(SyncError):
    pass


class ServerError(SyncError):
    pass


class RequestRejected(SyncError):
    pass


class CursorExpired(SyncError):
    pass
