"""One way to answer a request or a command: decode, check, handle, reply, settle.

Every service that answers (the scheduler's and the policy service's commands, the policy evaluation,
the event store's queries) routes a message by its subject to a :class:`Handler`, which decodes and
checks the body and returns the encoded success reply, or raises. What a raised error becomes is decided
here, once:

- a :class:`ContractError` is answered with its code at once (the request is wrong; retrying cannot help);
- anything else is a failed handling. A plain request is answered with its code right away (there is no
  stored copy to retry). A stored command (JAMJET_CMDS) whose error is retryable, or unexpected
  (``internal_error``: it may be transient), is retried with backoff until it has failed
  ``JAMJET_MAX_COMMAND_ATTEMPTS`` times; then, or at once for a fatal error, it is answered with the
  error's code, dead-lettered on ``jamjet.dlq.decode`` with the reason, and acked. Nothing is
  redelivered forever. A failure of NATS itself (an error whose ``outage`` is set: ``unavailable``, a
  stream electing a leader failing every attempt at once for seconds) is tried again each second for
  up to ``OUTAGE_ATTEMPTS`` attempts.

A command that could not be read at all (malformed JSON, wrong fields, too large, a bad token) is also
dead-lettered, besides its answer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common.codec import error_reply, ok_reply
from jamjet_common.codes import UNDECODABLE
from jamjet_common.deadletter import dead_letter_command
from jamjet_common.errors import (
    BusUnavailableError,
    ContractError,
    InternalError,
    JamjetError,
    PayloadTooLargeError,
    UnknownCommandError,
    bus_failure,
)
from jamjet_common.messages import ErrorBody
from jamjet_common.replies import ReplyRegistry
from jamjet_common.tenancy import bind_tenant

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_SECS = 30.0
FIRST_RETRY_DELAY_SECS = 0.25
OUTAGE_ATTEMPTS = 60
OUTAGE_RETRY_DELAY_SECS = 1.0


@dataclass(frozen=True, slots=True)
class Request:
    """One message to answer, as the handlers see it."""

    subject: str
    route: str
    data: bytes
    headers: Mapping[str, str] | None = None
    key: str | None = None
    """A stored command's identity (stream, sequence, time): the same on every redelivery."""
    attempt: int = 1


class Handler(Protocol):
    """Decode and check ``request``, do it, return the encoded success reply; raise on anything else."""

    def __call__(self, request: Request, /) -> Awaitable[bytes]: ...


class Tracing(Protocol):
    """A span around each answer, told what was asked and answered."""

    def span(self, request: Request) -> AbstractContextManager[Any]: ...

    def describe(self, span: Any, request: Request, reply: bytes) -> None: ...


BodyHandler = Callable[[bytes], Awaitable[bytes]]
"""A function of a request's body that returns the encoded success reply."""
FieldsOf = Callable[[bytes], Awaitable[dict[str, Any]]]
"""A function of a command's body that returns its success reply's fields."""


def body(handle: BodyHandler) -> Handler:
    """A handler from a function of the body alone."""

    async def handler(request: Request) -> bytes:
        return await handle(request.data)

    return handler


def fields(handle: FieldsOf) -> Handler:
    """A handler from a function of the body that returns the success reply's fields."""

    async def handler(request: Request) -> bytes:
        return ok_reply(**await handle(request.data))

    return handler


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: bytes
    error: JamjetError | None = None

    @property
    def failed(self) -> bool:
        """The handling failed (as opposed to a request answered with a contract error)."""
        return self.error is not None and not isinstance(self.error, ContractError)

    @property
    def worth_retrying(self) -> bool:
        """A retryable error, or an unexpected one (which may well be transient: NATS away)."""
        error = self.error
        if error is None or isinstance(error, ContractError):
            return False
        return error.retryable or isinstance(error, InternalError)


@dataclass(frozen=True, slots=True)
class Router:
    """Routes by subject (``prefix`` removed) to handlers; never raises for what a message holds."""

    name: str
    routes: Mapping[str, Handler]
    prefix: str = ""
    max_bytes: int | None = None
    unknown: Callable[[Request, Sequence[str]], JamjetError] | None = None
    """The error for a subject no route serves (default: ``unknown_command``)."""
    classify: Callable[[Exception], JamjetError | None] | None = None
    """Gives a known kind of exception (a database error) its code."""
    tracing: Tracing | None = None

    def request(self, msg: Msg, *, stored: bool = False) -> Request:
        route = msg.subject.removeprefix(self.prefix)
        if not stored:
            return Request(msg.subject, route, msg.data, msg.headers)
        meta = msg.metadata
        at = meta.timestamp.isoformat() if meta.timestamp else ""
        key = f"{meta.stream}:{meta.sequence.stream}:{at}"
        return Request(msg.subject, route, msg.data, msg.headers, key, meta.num_delivered or 1)

    async def answer(self, request: Request) -> Outcome:
        with self._span(request) as span:
            outcome = await self._outcome(request)
            if self.tracing is not None:
                self.tracing.describe(span, request, outcome.reply)
        return outcome

    async def respond(self, msg: Msg) -> None:
        """Answer a plain request (no stored copy: every failure is answered at once)."""
        if not msg.reply:
            return
        outcome = await self.answer(self.request(msg))
        try:
            await msg.respond(outcome.reply)
        except Exception as exc:  # the asker may be gone; nothing else depends on this reply
            logger.debug("could not answer %s: %r", msg.subject, exc)

    async def _outcome(self, request: Request) -> Outcome:
        try:
            return Outcome(await self._dispatch(request))
        except Exception as exc:
            error = self._error(request, exc)
            return Outcome(error_reply(error.code, error.message), error)

    async def _dispatch(self, request: Request) -> bytes:
        if self.max_bytes is not None and len(request.data) > self.max_bytes:
            raise PayloadTooLargeError(
                f"{request.subject} body is {len(request.data)} bytes; the limit is {self.max_bytes} bytes"
            )
        request = self._for_tenant(request)
        handler = self.routes.get(request.route)
        if handler is None:
            raise self._unknown(request)
        return await handler(request)

    def _for_tenant(self, request: Request) -> Request:
        """A tenant's request (``jamjet.tenant.<t>.…``, see tenancy) as the plain one acting for ``<t>``."""
        subject, data = bind_tenant(request.subject, request.data)
        if subject == request.subject:
            return request
        return replace(request, subject=subject, route=subject.removeprefix(self.prefix), data=data)

    def _unknown(self, request: Request) -> JamjetError:
        if self.unknown is not None:
            return self.unknown(request, list(self.routes))
        return UnknownCommandError(f"no command is served on {request.subject!r}")

    def _error(self, request: Request, exc: Exception) -> JamjetError:
        error = exc if isinstance(exc, JamjetError) else self._classified(exc)
        if isinstance(error, ContractError):
            logger.info("%s %s refused: %s", self.name, request.subject, exc)
        elif error is not None:
            logger.warning(
                "%s %s failed (attempt %d): %s", self.name, request.subject, request.attempt, error
            )
        else:
            logger.exception("%s %s failed (attempt %d)", self.name, request.subject, request.attempt)
            error = InternalError(f"{self.name} could not handle {request.route}: {exc!r}; see its log")
        return error

    def _classified(self, exc: Exception) -> JamjetError | None:
        """The service's own kinds first: a database's connection failure is an ``OSError`` too."""
        known = self.classify(exc) if self.classify is not None else None
        if known is None and bus_failure(exc):
            return BusUnavailableError(f"{self.name}: NATS did not answer ({exc!r}); try again")
        return known

    def _span(self, request: Request) -> AbstractContextManager[Any]:
        if self.tracing is None:
            return _no_span()
        return self.tracing.span(request)


@contextlib.contextmanager
def _no_span() -> Iterator[None]:
    yield None


@dataclass(frozen=True, slots=True)
class StoredCommands:
    """The poison policy for commands of JAMJET_CMDS: answer, retry, or give up; always settle."""

    nc: Client
    router: Router
    registry: ReplyRegistry
    service: str
    max_attempts: int

    async def settle(self, msg: Msg) -> None:
        request = self.router.request(msg, stored=True)
        outcome = await self.router.answer(request)
        if outcome.worth_retrying and request.attempt < self._attempts(outcome.error):
            # The asker is not answered yet: it is still remembered for the next attempt.
            await msg.nak(delay=retry_delay(request.attempt, outcome.error))
            return
        await self._dead_letter(msg, request, outcome)
        await self._reply(msg, outcome.reply)
        await msg.ack()

    def _attempts(self, error: JamjetError | None) -> int:
        """An outage of the bus passes with time, not with attempts: it gets more of them."""
        if error is not None and error.outage:
            return max(self.max_attempts, OUTAGE_ATTEMPTS)
        return self.max_attempts

    async def _dead_letter(self, msg: Msg, request: Request, outcome: Outcome) -> None:
        error = outcome.error
        if error is None:
            return
        attempts = None
        if outcome.worth_retrying:
            attempts = request.attempt
            logger.error(
                "%s %s: gave up after %d attempts: %s", self.router.name, msg.subject, attempts, error
            )
        elif outcome.failed:
            logger.error("%s %s failed for good: %s", self.router.name, msg.subject, error)
        elif error.code not in UNDECODABLE:
            return
        body = ErrorBody(code=error.code, message=error.message)
        await dead_letter_command(self.nc, msg, body, self.service, attempts=attempts)

    async def _reply(self, msg: Msg, reply: bytes) -> None:
        meta = msg.metadata
        asker = await self.registry.reply_subject(msg.subject, msg.data, meta.timestamp, msg.headers)
        if asker is None:
            logger.debug("command %s had no one waiting for its answer", msg.subject)
            return
        await self.nc.publish(asker, reply)


def retry_delay(attempt: int, error: JamjetError | None) -> float:
    """The error's own ``retry_after`` if it has one, else exponential from a quarter second."""
    after = getattr(error, "retry_after", None)
    if after is None and error is not None and error.outage:
        after = OUTAGE_RETRY_DELAY_SECS
    if isinstance(after, int | float):
        return min(float(after), MAX_RETRY_DELAY_SECS)
    return min(FIRST_RETRY_DELAY_SECS * 2.0 ** (attempt - 1), MAX_RETRY_DELAY_SECS)
