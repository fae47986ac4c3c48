"""A TCP relay in front of a real server (nats-server, Postgres) that a test can cut or black-hole.

``cut()`` is an outage: open connections drop and new ones are refused. ``black_hole()`` is a network
that swallows packets: connections stay open and new ones are accepted, but nothing gets through in
either direction, so a client waits on its socket until its own timeout (or forever).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from jamjet_common.local.nats_server import HOST, free_port

CHUNK = 65536


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._holding = False
        self.accepted = 0
        """Connections accepted so far."""

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, self.port)

    def black_hole(self) -> None:
        """From now on, swallow every byte, on open connections and new ones alike."""
        self._holding = True

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        if self._holding:
            self._spawn(self._swallow(reader))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            self._spawn(self._pipe(src, dst))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _swallow(self, src: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while await src.read(CHUNK):
                pass

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(CHUNK):
                if not self._holding:
                    dst.write(data)
                    await dst.drain()
        dst.transport.abort()
        self._writers.discard(dst)
