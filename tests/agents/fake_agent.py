"""A real HTTP/1.1 agent on 127.0.0.1 for the agent_tool tests: JSON answers and chunked NDJSON/SSE streams.

Each route maps a request (path, JSON body) to a ``Reply``. Streamed lines are written as HTTP chunks,
with a delay before each, and the time each line left the server is recorded so that tests can
measure how soon a subscriber saw it. ``disconnected`` tells when the client hung up mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Server Error"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    """A JSON answer (not streamed)."""
    lines: list[str] | None = None
    """Streamed lines, each sent as one chunk."""
    delay: float = 0.0
    """Seconds before each streamed line: the agent thinking."""
    hang: bool = False
    """Keep the stream open after the last line, as an agent that stalled."""
    content_type: str = NDJSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


Route = Callable[[Request], Reply]


class FakeAgent:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.sent_at: list[float] = []
        """``time.monotonic()`` when each streamed line was written."""
        self.disconnected = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeAgent]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await _read_request(reader)
            self.requests.append(request)
            reply = self.routes[request.path](request)
            await self._respond(reply, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if reply.lines is None:
            body = json.dumps(reply.body).encode()
            writer.write(_head(reply, {"Content-Type": "application/json", "Content-Length": str(len(body))}))
            writer.write(body)
            await writer.drain()
            return
        writer.write(_head(reply, {"Content-Type": reply.content_type, "Transfer-Encoding": "chunked"}))
        await writer.drain()
        watcher = asyncio.create_task(self._watch_hangup(reader))
        try:
            await self._stream(reply, writer)
        finally:
            watcher.cancel()

    async def _stream(self, reply: Reply, writer: asyncio.StreamWriter) -> None:
        for line in reply.lines or []:
            await asyncio.sleep(reply.delay)
            if self.disconnected.is_set():
                return
            data = (line + "\n").encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            self.sent_at.append(time.monotonic())
        if reply.hang:
            await self.disconnected.wait()
            return
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _watch_hangup(self, reader: asyncio.StreamReader) -> None:
        # The client sends nothing more on this connection: EOF means it went away.
        with contextlib.suppress(ConnectionError):
            await reader.read()
        self.disconnected.set()


async def _read_request(reader: asyncio.StreamReader) -> Request:
    request_line = (await reader.readline()).decode()
    headers: dict[str, str] = {}
    while (line := (await reader.readline()).decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    raw = await reader.readexactly(length) if length else b""
    return Request(path=request_line.split(" ")[1], headers=headers, body=json.loads(raw) if raw else None)


def _head(reply: Reply, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in {**headers, **reply.headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ndjson_lines(*chunks: Any) -> list[str]:
    return [json.dumps(chunk) for chunk in chunks]
