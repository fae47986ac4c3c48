"""HTTP to remote agents: JSON requests, and failures classified as retryable or fatal.

429 is a rate limit (with its Retry-After), 5xx a server error, timeouts and broken connections are
transient; any other 4xx will not go away by asking again.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from jamjet_common.errors import FatalError, JamjetError, RetryableError

BODY_SNIPPET = 300
MAX_RETRY_AFTER_SECS = 3600.0
HTTP_STATUS = "http_status"


async def post_json(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str], timeout_secs: float
) -> Any:
    response = await client.post(url, json=body, headers=headers, timeout=timeout_secs)
    check_status(response, url)
    return parse_body(response.text)


def parse_body(text: str) -> Any:
    """An agent's answer is JSON; anything else is kept as ``{"raw": text}``."""
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def check_status(response: httpx.Response, url: str) -> None:
    """Raise for a failed response; a streamed one must have been read (``aread``) first."""
    status = response.status_code
    if status < 400:
        return
    message = f"agent at {url} answered HTTP {status}: {response.text[:BODY_SNIPPET]}"
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        raise RetryableError(message, code=HTTP_STATUS, error_class="rate_limit", retry_after=wait)
    if status >= 500:
        raise RetryableError(message, code=HTTP_STATUS, error_class="server_error")
    raise FatalError(message, code=HTTP_STATUS)


def retry_after(header: str | None) -> float | None:
    """Seconds form only; an HTTP date falls back to the retry policy's delay."""
    try:
        seconds = float(header) if header else None
    except ValueError:
        return None
    return None if seconds is None else min(max(seconds, 0.0), MAX_RETRY_AFTER_SECS)


def transport_error(exc: httpx.HTTPError, url: str) -> JamjetError:
    """The error's ``code`` is the ``failure_type`` of the ``agent_tool_error`` event."""
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(
            f"agent at {url} timed out: {_describe(exc)}", code="timeout", error_class="timeout"
        )
    if isinstance(exc, httpx.TransportError):
        message = f"agent at {url} unreachable or stream broken: {_describe(exc)}"
        return RetryableError(message, code="connection", error_class="connection_reset")
    return FatalError(f"agent at {url}: {_describe(exc)}", code="request")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
