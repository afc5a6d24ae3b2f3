"""What can go wrong in a sync, as one exception tree:

SyncError
├── TransportError      the server could not be reached or did not answer in time
├── AuthError           wrong password, or the session ended: sign in again
│   ├── DeviceRevoked   the device was revoked or its user deactivated: it wiped itself
│   └── Throttled       too many wrong passwords lately: wait before trying again
├── ServerError         the server answered with an error of its own (5xx)
├── RequestRejected     the server refused the request as malformed (4xx), with its reason
├── CursorExpired       the cursor is older than the server keeps: start from scratch
└── UpdateRequired      the server no longer takes this version of the app (426): update it
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "CursorExpired",
    "DeviceRevoked",
    "RequestRejected",
    "ServerError",
    "SyncError",
    "Throttled",
    "TransportError",
    "UpdateRequired",
]


class SyncError(Exception):
    """Base of every sync failure; its message is meant for the person using the app."""


class TransportError(SyncError):
    pass


class AuthError(SyncError):
    pass


class DeviceRevoked(AuthError):
    """The server cut this device off (revoked, or its user deactivated): by the time this is
    raised from a sync, the replica, the outbox and the stored session are wiped."""


class Throttled(AuthError):
    """The server refuses sign-ins for this user name or address for a while."""


class ServerError(SyncError):
    pass


class RequestRejected(SyncError):
    pass


class CursorExpired(SyncError):
    pass


class UpdateRequired(SyncError):
    """The server answered 426: this app's sync schema is older than it takes. Nothing was
    sent nor changed (the outbox waits); only an updated app syncs again."""
