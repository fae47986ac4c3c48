"""A real HTTP/1.1 server on a loopback address for the executor tests: scripted replies, recorded requests.

Replies queued with ``reply()`` answer the next requests in order; after them, ``handler`` answers
(by default, 404). Connections are kept alive, so the tests can see the client's pooling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    connection: int
    """Which connection (1-based, in accept order) carried it."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    """JSON-encoded, unless bytes (sent as they are)."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering."""

    def encode(self) -> bytes:
        body = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        if self.body is None:
            body = b""
        headers = {"Content-Type": "application/json", **self.headers, "Content-Length": str(len(body))}
        lines = [f"HTTP/1.1 {self.status} {_phrase(self.status)}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


Handler = Callable[[Request], Reply]


def sse(*events: Any, done: bool = True) -> Reply:
    """A ``text/event-stream`` reply: one ``data:`` event per item (JSON unless a str), then ``[DONE]``."""
    lines = [f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n" for event in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return Reply(body="".join(lines).encode(), headers={"Content-Type": "text/event-stream"})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def not_found(request: Request) -> Reply:
    return Reply(404, {"error": {"message": f"no route for {request.path}"}})


class FakeHttpServer:
    def __init__(self, handler: Handler = not_found, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.requests: list[Request] = []
        self.connections = 0
        self._queued: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def reply(self, *replies: Reply) -> None:
        self._queued.extend(replies)

    @property
    def last(self) -> Request:
        return self.requests[-1]

    async def __aenter__(self) -> FakeHttpServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        connection = self.connections
        try:
            while (request := await _read_request(reader, connection)) is not None:
                self.requests.append(request)
                reply = self._queued.popleft() if self._queued else self.handler(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                writer.write(reply.encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body, connection)
