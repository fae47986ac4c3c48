"""What every endpoint shares: authentication, bounded JSON bodies, JSON answers, error replies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import nats.errors
from nats.js import JetStreamContext
from starlette.requests import Request
from starlette.responses import Response

from jamjet_client import RuntimeClient
from jamjet_common.codec import ENCODER, decode, refuse_nul
from jamjet_common.errors import JamjetError, PayloadTooLargeError
from jamjet_common.messages import ErrorBody
from services.gateway.config import GatewayConfig
from services.gateway.errors import HttpError, read_only, status_of, unauthorized
from services.gateway.tokens import Principal

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What the endpoints need from the running gateway."""

    @property
    def config(self) -> GatewayConfig: ...

    @property
    def client(self) -> RuntimeClient: ...

    @property
    def js(self) -> JetStreamContext: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request."""

    request: Request
    principal: Principal
    backend: Backend

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    @property
    def client(self) -> RuntimeClient:
        return self.backend.client

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    async def body[T](self, type_: type[T], *, optional: bool = False) -> T:
        data = await read_body(self.request, self.backend.config.max_body_bytes)
        if optional and not data.strip():
            data = b"{}"
        value = decode(data, type_, what="request body")
        refuse_nul(data, value, "request body")
        return value


Handler = Callable[[Call], Awaitable[Response]]


class _Error(msgspec.Struct, frozen=True):
    error: ErrorBody


def json_response(value: Any, status: int = 200) -> Response:
    return Response(ENCODER.encode(value), status_code=status, media_type="application/json")


def error_response(exc: JamjetError) -> Response:
    return json_response(_Error(ErrorBody(code=exc.code, message=exc.message)), status_of(exc))


def endpoint(handler: Handler, *, write: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind Bearer-token authentication (and the read-only check for writes)."""

    async def serve(request: Request) -> Response:
        try:
            principal = authenticate(request)
            if write and principal.read_only:
                raise read_only()
            return await handler(Call(request, principal, request.app.state.backend))
        except JamjetError as exc:
            return error_response(exc)
        except nats.errors.Error as exc:
            return error_response(HttpError(503, "unavailable", f"NATS: {exc!r}"))

    serve.__name__ = handler.__name__
    return serve


def authenticate(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    backend: Backend = request.app.state.backend
    principal = backend.config.tokens.principal(token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise unauthorized()
    return principal


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (whatever Content-Length claims)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is {size}+ bytes; the limit is {limit} bytes")
