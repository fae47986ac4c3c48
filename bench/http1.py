"""A lean HTTP/1.1 client for the gateway bench: one keep-alive connection, httptools parsing.

The bench compares a start over HTTP with the same start over NATS (nats-py), and an SSE event with the
same event on a NATS subscription. httpx spends about a millisecond of Python per request (and a loop hop
per SSE line) that would be counted against the gateway; this client, an asyncio Protocol fed straight
by the event loop, costs about what nats-py does. Arrival times are taken as bytes come off the socket.
A connection the server closed while idle (uvicorn's keep-alive timeout) is opened again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httptools


@dataclass(slots=True)
class Response:
    status: int = 0
    body: bytearray = field(default_factory=bytearray)
    lines: list[tuple[bytes, float]] = field(default_factory=list)
    """Complete body lines with the time their last byte arrived (for SSE)."""


REQUEST_TIMEOUT_SECS = 60.0


class Connection(asyncio.Protocol):
    """One connection to ``host:port``; requests go one at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in ({"Host": f"{host}:{port}"} | headers).items())
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response = Response()
        self._done: asyncio.Future[Response] | None = None
        self._arrived = 0.0
        self._partial = b""

    @classmethod
    async def open(cls, url: str, headers: dict[str, str]) -> Connection:
        host, _, port = url.removeprefix("http://").partition(":")
        connection = cls(host, int(port), headers)
        await connection._connect()
        return connection

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        assert self._done is None, "one request at a time"
        if self._transport is None or self._transport.is_closing():
            await self._connect()
        assert self._transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._response, self._partial = Response(), b""
        kind = "Content-Type: application/json\r\n" if body else ""
        head = f"{method} {path} HTTP/1.1\r\n{self._head}{kind}Content-Length: {len(body)}\r\n\r\n"
        self._transport.write(head.encode() + body)
        try:
            return await asyncio.wait_for(self._done, REQUEST_TIMEOUT_SECS)
        finally:
            self._done = None

    @property
    def current(self) -> Response:
        """The response being received (an SSE stream's lines so far)."""
        return self._response

    async def _connect(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        await asyncio.get_running_loop().create_connection(lambda: self, self.host, self.port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # ---- asyncio.Protocol and httptools callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._arrived = time.perf_counter()
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc or ConnectionError("the gateway closed the connection"))

    def on_headers_complete(self) -> None:
        self._response.status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._response.body += body
        *complete, self._partial = (self._partial + body).split(b"\n")
        self._response.lines += [(line, self._arrived) for line in complete]

    def on_message_complete(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self._response)
