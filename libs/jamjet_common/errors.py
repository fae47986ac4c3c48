"""The project's exception root and its two families: contract errors and runtime failures.

Whether a failure is retryable is a property of the error; :func:`settle` style code maps it once to
JetStream's ``nak(delay)`` or ``term``.
"""

from __future__ import annotations

import nats.errors


class JamjetError(Exception):
    """Root of every error the runtime raises on purpose."""

    code = "internal_error"
    retryable = False
    outage = False
    """Caused by NATS being away or electing a leader: it passes with time, not with attempts."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ContractError(JamjetError):
    """A request or message that breaks the wire contract; never worth retrying."""

    code = "invalid_request"


class MalformedJsonError(ContractError):
    code = "malformed_json"


class PayloadTooLargeError(ContractError):
    code = "payload_too_large"


class InvalidTokenError(ContractError):
    code = "invalid_token"


class InvalidIrError(ContractError):
    code = "invalid_ir"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid workflow IR: " + "; ".join(problems))
        self.problems = problems


class NotFoundError(ContractError):
    code = "not_found"


class UnknownWorkflowError(NotFoundError):
    code = "unknown_workflow"


class UnknownExecutionError(NotFoundError):
    code = "unknown_execution"


class TenantMismatchError(ContractError):
    """A tenant's client named another tenant in the body than the one its NATS account stands for."""

    code = "tenant_mismatch"


class ConflictError(ContractError):
    code = "conflict"


class RetryableError(JamjetError):
    """A transient failure: try again after ``retry_after`` seconds (None = policy decides).

    ``error_class`` names what kind of transient failure it is, as a retry policy's ``retryable_on``
    lists them: ``timeout``, ``io_error``, ``connection_reset``, ``rate_limit``, ``server_error``, or a
    custom name (matched by ``{"custom": "<name>"}``). None: unclassified.
    """

    code = "retryable"
    retryable = True
    error_class: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        error_class: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        if error_class is not None:
            self.error_class = error_class


class FatalError(JamjetError):
    """A failure that will not go away by trying again."""

    code = "fatal"


class AppendConflictError(RetryableError):
    """Another writer appended to the execution's log first; re-read the tail and decide again."""

    code = "append_conflict"


class BusUnavailableError(RetryableError):
    """NATS, or a JetStream stream, did not answer: a connection being re-established, a stream leader
    being elected. It passes; a stored command meeting it is tried again for as long as
    ``router.OUTAGE_ATTEMPTS`` allows rather than the poison policy's few attempts."""

    code = "unavailable"
    error_class = "io_error"
    outage = True


def bus_failure(exc: BaseException) -> bool:
    """A failure of NATS itself (or of the connection to it), not of what was asked of it."""
    return isinstance(exc, nats.errors.Error | OSError | TimeoutError)


class InternalError(JamjetError):
    """An unexpected exception, reported without its traceback (logged with it).

    Neither a contract error nor known to be fatal: a stored command that meets one is tried again
    (NATS may have been away for a moment), up to the poison policy's limit.
    """

    code = "internal_error"


class UnknownCommandError(ContractError):
    code = "unknown_command"


class UnknownTenantError(NotFoundError):
    code = "unknown_tenant"


class TenantExistsError(ConflictError):
    code = "tenant_exists"


class InvalidTenantError(ContractError):
    """A tenant record that breaks its schema (a limit of the wrong type): refused before it is stored."""

    code = "invalid_tenant"


class UnknownAgentError(NotFoundError):
    code = "unknown_agent"


class AgentExistsError(ConflictError):
    code = "agent_exists"


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"


class UnreadableRecordError(RetryableError):
    """A KV record that does not fit its schema (written by hand or by another version).

    Retryable because an operator may repair the record; the router gives up on the command after
    ``JAMJET_MAX_COMMAND_ATTEMPTS`` and answers with this code.
    """

    code = "unreadable_record"
