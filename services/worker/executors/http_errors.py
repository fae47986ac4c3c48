"""JSON over HTTP for the model and tool executors, and what a failed call means for a retry.

- 429: retryable ``rate_limit``, waiting as long as the server asks (``retry-after-ms``, ``Retry-After``
  in seconds or as an HTTP date, else the longest ``x-ratelimit-reset*`` header, e.g. ``6m0s``).
- 408 and timeouts: retryable ``timeout``. 5xx: retryable ``server_error`` (honouring ``Retry-After``).
- Connection failures: retryable ``connection_reset`` or ``io_error``.
- Any other status outside 2xx, and a 2xx body that is not JSON: fatal, with the API's own message.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from jamjet_common.errors import FatalError, JamjetError, RetryableError

RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
IO_ERROR = "io_error"
CONNECTION_RESET = "connection_reset"

_MAX_DETAIL = 500
_MAX_CHAIN = 8
_EPOCH_FLOOR = 1_000_000_000
"""A reset header above this is a Unix timestamp, not a number of seconds."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True, slots=True)
class JsonResponse:
    body: Any
    """The decoded JSON body; None when the body was empty."""
    headers: httpx.Headers


def pooled_client(max_connections: int, timeout_secs: float) -> httpx.AsyncClient:
    """One client per executor: connections to a host are kept alive and reused across nodes."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(limits=limits, timeout=timeout_secs, follow_redirects=False)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    what: str,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """POST ``payload`` as JSON; a 2xx JSON answer, or a classified ``RetryableError``/``FatalError``."""
    try:
        response = await client.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise RetryableError(
            f"{what}: no answer from {_where(url)} within {timeout:g}s", code=TIMEOUT, error_class=TIMEOUT
        ) from exc
    except httpx.TransportError as exc:
        raise transport_error(exc, what, url) from exc
    if not response.is_success:
        raise error_for_status(response, what)
    return JsonResponse(decode_json(response, what), response.headers)


def transport_error(exc: httpx.TransportError, what: str, url: str) -> RetryableError:
    error_class = CONNECTION_RESET if _caused_by(exc, ConnectionResetError) else IO_ERROR
    detail = str(exc) or type(exc).__name__
    return RetryableError(
        f"{what}: cannot reach {_where(url)}: {detail}", code=error_class, error_class=error_class
    )


def error_for_status(response: httpx.Response, what: str) -> JamjetError:
    status = response.status_code
    message = f"{what}: HTTP {status} {response.reason_phrase} from {_where(str(response.url))}"
    detail = api_message(response)
    if detail:
        message = f"{message}: {detail}"
    if status == 429:
        return RetryableError(
            message, code=RATE_LIMIT, retry_after=retry_after_secs(response.headers), error_class=RATE_LIMIT
        )
    if status == 408:
        return RetryableError(message, code=TIMEOUT, error_class=TIMEOUT)
    if status >= 500:
        return RetryableError(
            message,
            code=SERVER_ERROR,
            retry_after=retry_after_secs(response.headers),
            error_class=SERVER_ERROR,
        )
    return FatalError(message, code=f"http_{status}")


def decode_json(response: httpx.Response, what: str) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        snippet = response.text[:_MAX_DETAIL]
        raise FatalError(f"{what}: the response is not JSON ({exc}): {snippet!r}") from exc


def api_message(response: httpx.Response) -> str:
    """The error text an API put in its body: ``error.message``, ``error``, ``message`` or ``detail``."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.text.strip()[:_MAX_DETAIL]
    return _message_in(body)[:_MAX_DETAIL]


def _message_in(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if key in body:
                return _message_in(body[key])
    if isinstance(body, str):
        return body
    return "" if body is None else json.dumps(body, separators=(",", ":"))


def retry_after_secs(headers: httpx.Headers, now: float | None = None) -> float | None:
    """How long the server asked us to wait, in seconds; None when it did not say."""
    now = time.time() if now is None else now
    if "retry-after-ms" in headers:
        millis = _number(headers["retry-after-ms"])
        return None if millis is None else millis / 1000
    if "retry-after" in headers:
        return _retry_after(headers["retry-after"], now)
    resets = [_reset(value, now) for name, value in headers.items() if name.startswith("x-ratelimit-reset")]
    known = [reset for reset in resets if reset is not None]
    return max(known) if known else None


def _retry_after(value: str, now: float) -> float | None:
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _reset(value: str, now: float) -> float | None:
    seconds = _number(value)
    if seconds is None:
        return _duration(value)
    return max(0.0, seconds - now) if seconds > _EPOCH_FLOOR else seconds


def _duration(value: str) -> float | None:
    """A Go-style duration as OpenAI sends it: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``."""
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(amount + unit for amount, unit in parts) != text:
        return None
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    link: BaseException | None = exc
    for _ in range(_MAX_CHAIN):
        if link is None:
            return False
        if isinstance(link, kind):
            return True
        link = link.__cause__ or link.__context__
    return False


def _where(url: str) -> str:
    """The URL without its query string, which may carry a key."""
    return url.split("?", 1)[0]
