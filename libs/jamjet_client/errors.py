"""Typed errors of the client: every ``{"ok": false}`` reply becomes one, carrying the reply's code.

The family (not found, conflict, unavailable, refused) is decided here once from the code, so callers
and the HTTP gateway act on the class and never on the message text.
"""

from __future__ import annotations

from jamjet_common.errors import JamjetError

NOT_FOUND_CODES = frozenset(
    {
        "not_found",
        "unknown_execution",
        "unknown_workflow",
        "unknown_tenant",
        "unknown_agent",
        "unknown_artifact",
        "unknown_dead_letter",
    }
)
CONFLICT_CODES = frozenset(
    {
        "conflict",
        "version_conflict",
        "execution_exists",
        "nothing_pending",
        "not_pending",
        "execution_terminal",
        "tenant_exists",
        "agent_exists",
        "invalid_transition",
        "busy",
    }
)
REFUSED_CODES = frozenset({"tenant_suspended", "tenant_limit_exceeded", "payload_too_large"})
UNAVAILABLE_CODES = frozenset(
    {
        "store_unavailable",
        "limits_unavailable",
        "artifacts_unavailable",
        "policy_unavailable",
        "internal_error",
        "unavailable",
        "timeout",
        "reply_too_large",
        "unreadable_record",
    }
)
RETRYABLE_CODES = frozenset({"busy", "store_unavailable", "limits_unavailable", "unavailable", "timeout"})


class RequestError(JamjetError):
    """The runtime answered a request with an error; ``code`` is the reply's code."""

    def __init__(self, code: str, message: str, *, subject: str = "") -> None:
        super().__init__(message, code=code)
        self.subject = subject
        self.retryable = code in RETRYABLE_CODES


class InvalidRequest(RequestError):
    """The request breaks the contract (a bad id, body, IR, cursor...)."""


class NotFound(RequestError):
    """What the request names does not exist (for this tenant)."""


class Conflict(RequestError):
    """The request does not fit the current state (already terminal, nothing pending, ...)."""


class Refused(RequestError):
    """The tenant may not do this now (suspended, over a limit) or the request is too large."""


class Unavailable(RequestError):
    """Nobody answered in time, or a part of the runtime behind the answer is down."""


def error_for(code: str, message: str, *, subject: str = "") -> RequestError:
    """The typed error for a reply's code."""
    family: type[RequestError] = InvalidRequest
    if code in NOT_FOUND_CODES:
        family = NotFound
    elif code in CONFLICT_CODES:
        family = Conflict
    elif code in REFUSED_CODES:
        family = Refused
    elif code in UNAVAILABLE_CODES:
        family = Unavailable
    return family(code, message, subject=subject)
