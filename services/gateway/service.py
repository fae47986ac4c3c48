"""The gateway process: a NATS connection, the typed client on it, and uvicorn serving the app.

Stateless: every request becomes NATS commands and ``jamjet.store.*`` queries, so any number of
replicas can run behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from jamjet_client import RuntimeClient
from jamjet_common.artifacts import ArtifactStore
from jamjet_common.config import Env
from jamjet_common.service import Service
from services.gateway.app import build_app
from services.gateway.config import GatewayConfig

logger = logging.getLogger(__name__)


class GatewayService(Service):
    name = "gateway"

    def __init__(self, config: GatewayConfig) -> None:
        super().__init__(config.common, config.limits)
        self.config = config
        self._client: RuntimeClient | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port = config.port

    @classmethod
    def from_env(cls, env: Env) -> GatewayService:
        return cls(GatewayConfig.from_env(env))

    @property
    def client(self) -> RuntimeClient:
        assert self._client is not None, "gateway not started"
        return self._client

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def public_url(self) -> str:
        return self.config.public_url or self.url

    async def start(self) -> None:
        self._client = RuntimeClient(self.nc, timeout=self.config.request_timeout_secs)
        app = build_app(self, await ArtifactStore.open(self.js))
        sock = socket.create_server((self.config.host, self.config.port), reuse_port=False)
        # Accepted connections inherit it: without it, a response written in two parts waits for the
        # client's delayed ACK (about 40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = sock.getsockname()[1]
        uv_config = uvicorn.Config(
            app,
            log_level=self.common.log_level.lower(),
            access_log=False,
            lifespan="off",
            http="httptools",
            # Followers (SSE) stay open until their execution ends: past the grace they are cut.
            timeout_graceful_shutdown=max(int(self.common.shutdown_grace_secs), 1),
        )
        self._server = server = uvicorn.Server(uv_config)
        uv_config.load()
        server.lifespan = uv_config.lifespan_class(uv_config)
        await server.startup(sockets=[sock])
        self._serving = asyncio.create_task(self._serve(server, sock))
        logger.info("gateway listening on %s", self.url)
        if self.config.dev_token:
            print(f"JAMJET_URL={self.public_url} JAMJET_TOKEN={self.config.dev_token}", flush=True)

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        # uvicorn's serve() would install its own signal handlers; the service's stop it instead.
        await server.main_loop()
        await server.shutdown(sockets=[sock])

    async def stop(self) -> None:
        if self._server is None or self._serving is None:
            return
        self._server.should_exit = True
        await self._serving
