"""Every failure as ``{"error": {"code", "message"}}`` with a 4xx status (5xx only when the runtime
behind the gateway does not answer); the codes are the NATS replies' codes."""

from __future__ import annotations

from jamjet_client.errors import Conflict, NotFound, Refused, RequestError, Unavailable
from jamjet_common.errors import ContractError, JamjetError, NotFoundError, PayloadTooLargeError

STATUS_BY_CODE = {
    "unauthorized": 401,
    "read_only": 403,
    "tenant_suspended": 403,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "tenant_limit_exceeded": 429,
    "timeout": 504,
}


class HttpError(JamjetError):
    """A failure found by the gateway itself, with its status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status


def status_of(exc: JamjetError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    if isinstance(exc, NotFound | NotFoundError):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, Refused):
        return 403
    if isinstance(exc, Unavailable):
        return 503
    if isinstance(exc, RequestError | ContractError):
        return 400
    return 500


def unauthorized() -> HttpError:
    return HttpError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required")


def read_only() -> HttpError:
    return HttpError(403, "read_only", "this token may only read")


def unknown_execution(execution_id: str) -> HttpError:
    return HttpError(404, "unknown_execution", f"no execution {execution_id!r}")
