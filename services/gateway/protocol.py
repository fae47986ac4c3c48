"""uvicorn's httptools protocol, sending a response's head together with its first body part.

uvicorn writes a response's head and its body with two transport writes: on the TCP_NODELAY socket that
is two ``send`` calls and two segments, and the client wakes for the head alone. The head is held until
the next write (the body, in the same task step) and both leave as one; a head with no body ready (an SSE
stream before its first event) leaves when the loop next runs its callbacks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _Coalescing:
    """An ``asyncio.Transport`` that holds one write until the next (or the loop's next callbacks)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held, self._held = self._held, None
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(held + data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
