"""MCP client sessions, one per server configuration, reused across calls and closed on shutdown.

The SDK's ``Client`` runs in anyio task groups, which must be entered and exited by one task; so each
session is owned by a task of its own that opens it, waits for the signal to stop, and closes it.
Node tasks call tools through the open session. A session whose connection broke is dropped and the
next call opens a new one.

Before a session opens, the sandbox has its say: a stdio command must be in the operator's allowlist
(and the resolved executable is what starts), an HTTP server's host must pass the host guard, and auth
secrets come through the operator's mapping for the node's tenant. Sessions are kept per tenant, since
two tenants' secrets may differ.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import msgspec
from mcp import Client, StdioServerParameters
from mcp.client import Transport
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

from jamjet_common.errors import FatalError, RetryableError
from jamjet_common.ir import McpServerConfig
from services.worker.executors.remote_auth import auth_headers
from services.worker.sandbox import SandboxConfig
from services.worker.sandbox.secrets import Secrets

logger = logging.getLogger(__name__)

STREAMABLE_HTTP = frozenset({"streamable_http", "streamable-http", "http"})
LEGACY_SSE = frozenset({"http_sse", "sse"})
CLIENT_INFO = Implementation(name="jamjet-worker", version="0.1.0")
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)
CLOSE_TIMEOUT_SECS = 10.0


@dataclass(slots=True)
class _Session:
    client: Client
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def alive(self) -> bool:
        return not self.task.done()

    async def close(self) -> None:
        """Ask the owner to close the session; cancel it if it is still connecting or hangs."""
        self.stop.set()
        # asyncio.wait, not await: the owner's cancellation must not look like our own.
        _, pending = await asyncio.wait([self.task], timeout=CLOSE_TIMEOUT_SECS)
        for task in pending:
            task.cancel()
            await asyncio.wait([task])


def _key(config: McpServerConfig, tenant: str | None) -> bytes:
    return msgspec.json.encode([tenant, config])


class McpSessions:
    def __init__(
        self,
        *,
        connect_timeout_secs: float = 30.0,
        sandbox: SandboxConfig | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``sandbox``: none refuses every stdio command; ``environ``: where secrets are (os.environ)."""
        self._connect_timeout = connect_timeout_secs
        self._sandbox = sandbox or SandboxConfig()
        self._secrets = Secrets(self._sandbox.secrets, os.environ if environ is None else environ)
        self._sessions: dict[bytes, _Session] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}

    async def client(self, config: McpServerConfig, name: str, tenant: str | None = None) -> Client:
        """The open session for ``config``, connecting first if there is none (or it broke)."""
        key = _key(config, tenant)
        async with self._locks.setdefault(key, asyncio.Lock()):
            session = self._sessions.get(key)
            if session is None or not session.alive:
                session = await self._open(await self._transport(config, name, tenant), name)
                self._sessions[key] = session
            return session.client

    async def discard(self, config: McpServerConfig, tenant: str | None = None) -> None:
        session = self._sessions.pop(_key(config, tenant), None)
        if session is not None:
            await session.close()

    async def _transport(self, config: McpServerConfig, name: str, tenant: str | None) -> Transport:
        """The sandbox's checks, then the transport: the resolved command, the mapped secrets."""
        if config.transport.lower() == "stdio" and config.command:
            command = self._sandbox.commands.executable(config.command, name)
            return transport(msgspec.structs.replace(config, command=command))
        if config.url:
            await self._sandbox.hosts.check(config.url, f"MCP server '{name}'")
        return transport(config, auth_headers(config.auth, self._secrets, tenant))

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.close() for session in sessions))

    async def _open(self, connection: Transport, name: str) -> _Session:
        client = Client(connection, client_info=CLIENT_INFO, cache=None)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(_own(client, ready, stop, name), name=f"mcp:{name}")
        session = _Session(client, stop, task)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await ready
        except BaseException as exc:
            task.cancel()
            await asyncio.wait([task])
            if not isinstance(exc, Exception):
                raise
            raise self._connect_error(name, exc) from exc
        return session

    def _connect_error(self, name: str, exc: Exception) -> RetryableError:
        if isinstance(exc, TimeoutError):
            message = f"MCP server '{name}' did not connect within {self._connect_timeout:g}s"
            return RetryableError(message, error_class="timeout")
        return RetryableError(f"cannot connect to MCP server '{name}': {leaf(exc)}", error_class="io_error")


async def _own(client: Client, ready: asyncio.Future[None], stop: asyncio.Event, name: str) -> None:
    try:
        async with client:
            ready.set_result(None)
            await stop.wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError("connect interrupted"))
        elif not isinstance(exc, asyncio.CancelledError):
            logger.warning("MCP server '%s': session ended: %s", name, leaf(exc))
        if not isinstance(exc, Exception):
            raise


def transport(config: McpServerConfig, headers: dict[str, str] | None = None) -> Transport:
    kind = config.transport.lower()
    if kind == "stdio":
        if not config.command:
            raise FatalError("MCP server with transport 'stdio' has no command")
        return _stdio(StdioServerParameters(command=config.command, args=list(config.args)))
    if not config.url:
        raise FatalError(f"MCP server with transport '{config.transport}' has no url")
    if kind in STREAMABLE_HTTP:
        return _streamable_http(config.url, headers or {})
    if kind in LEGACY_SSE:
        return sse_client(config.url, headers=headers or {})
    raise FatalError(
        f"MCP transport '{config.transport}' is not supported (stdio, streamable_http, http_sse)"
    )


def _stdio(params: StdioServerParameters) -> Transport:
    # The server's stderr goes to the worker's, where its own diagnostics belong.
    return stdio_client(params, errlog=sys.stderr)


@asynccontextmanager
async def _streamable_http(url: str, headers: dict[str, str]) -> AsyncIterator[tuple[Any, Any]]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=HTTP_TIMEOUT) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def leaf(exc: BaseException) -> str:
    """The first real error inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
