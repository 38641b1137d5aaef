"""The worker's error tree.

SyncError
├── TransientError          network, 429, 5xx: retried with backoff, honouring Retry-After
│   ├── ThrottledError      429/503 with a Retry-After the caller may want to see
│   ├── PbxListIncomplete   the PBX's extension list shrank and could not be confirmed
│   └── PageTokenExpired    a skip token ran out mid-round: start the round again
└── PermanentError          4xx other than 401/429, bad configuration: recorded, not retried
    ├── SetupRequired       the link needs an admin (revoked/expired grant, consent missing)
    ├── ResyncRequired      Graph dropped our delta state (410, syncStateNotFound, ...)
    ├── GraphError          any other Graph 4xx, with Graph's code, message and request-id
    └── PbxError            a Vodia PBX refusal
        ├── PbxAuthError        401: wrong credentials
        ├── PbxForbiddenError   403: right credentials, wrong scope or API access off
        ├── PbxNotFoundError    404
        └── PbxWriteNotApplied  the PBX said 200 but the read-back shows nothing changed
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the sync engine raises on purpose."""


class TransientError(SyncError):
    """Worth retrying later: the peer was unreachable, throttled or briefly failing."""


class ThrottledError(TransientError):
    """The peer asked us to slow down."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PbxListIncomplete(TransientError):
    """The PBX listed far fewer extensions than last time and a second look did not confirm
    it (a partial or paged answer): the round must not act on that list."""


class PageTokenExpired(TransientError):
    """Graph's `Directory_ExpiredPageToken`: a nextLink (skip token) expired mid-round,
    typically after a long Retry-After. The stored deltaLink is still good: restart."""


class PermanentError(SyncError):
    """Retrying the same request will not help."""


class SetupRequired(PermanentError):
    """The link cannot authenticate until an administrator acts (OAuth Token, consent, secret)."""

    def __init__(self, reason: str, *, error_code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_code = error_code


class ResyncRequired(PermanentError):
    """Graph no longer knows our delta token: drop it and run a full round."""


class GraphError(PermanentError):
    """A Graph 4xx with its documented error body."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code
        self.graph_message = message
        self.request_id = request_id


class PbxError(PermanentError):
    """The PBX refused a request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PbxAuthError(PbxError):
    """401: the PBX administrator credentials are wrong."""


class PbxForbiddenError(PbxError):
    """403: the credentials are valid but lack the scope (or API access is off)."""


class PbxNotFoundError(PbxError):
    """404: no such domain or account."""


class PbxWriteNotApplied(PbxError):
    """The PBX answered 200 but reading back shows the write did not happen."""
