"""Bringing up a whole runtime on a bare machine: nats-server, Postgres, and the four services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from jamjet_common.config import Env
from jamjet_common.local.nats_server import LocalNatsServer, free_port
from jamjet_common.local.postgres import resolve_database_url, with_database
from jamjet_common.local.processes import parent_death_signal
from services.scheduler.config import INLINE_KINDS_ENV

logger = logging.getLogger(__name__)

SERVICES = ("event_store", "policy", "scheduler", "worker", "gateway")
GATEWAY_PORT = 7700
NATS_PORT = 4222
NATS_PORT_ENV = "JAMJET_NATS_PORT"
NATS_GOMAXPROCS_ENV = "JAMJET_NATS_GOMAXPROCS"
GRACE_ENV = "JAMJET_SHUTDOWN_GRACE_SECS"
DEV_DATABASE = "jamjet"
STOP_MARGIN_SECS = 6.0
"""A service exits within its grace period plus 5 s of SIGTERM; past this margin it is killed."""


def gateway_url(env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env['JAMJET_GATEWAY_PORT']}"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_nats(
    store_dir: Path, env: Mapping[str, str] = os.environ, *, monitor_port: int | None = None
) -> LocalNatsServer:
    """nats-server on ``JAMJET_NATS_PORT`` (4222), or a free port if that one is taken; HTTP
    monitoring on ``monitor_port`` if given (the benchmarks count messages there).

    Started from the calling thread, which must live as long as the dev stack (the death signal).
    """
    wanted = int(env.get(NATS_PORT_ENV) or NATS_PORT)
    port = wanted if port_is_free(wanted) else None
    server = LocalNatsServer(
        port=port,
        store_dir=str(store_dir),
        die_with_parent=True,
        monitor_port=monitor_port,
        environ=nats_environ(env),
    )
    server.start()
    if port is None:
        print(f"port {wanted} is taken (another NATS?); nats-server listens on {server.port} instead")
    return server


def nats_environ(env: Mapping[str, str]) -> dict[str, str]:
    """nats-server's environment: ``JAMJET_NATS_GOMAXPROCS`` threads for Go code, else half the cores.

    On one host with the four services, a Go runtime allowed every core spins idle threads looking for
    work after each wake-up, on cores the services need: on 2 cores, one thread made W2 25-45% faster
    at a third less nats-server CPU (docs/benchmarks.md). An explicit ``GOMAXPROCS`` wins.
    """
    out = dict(env)
    if "GOMAXPROCS" not in out:
        half = max(1, (os.cpu_count() or 2) // 2)
        out["GOMAXPROCS"] = str(Env(env).integer(NATS_GOMAXPROCS_ENV, half, minimum=1))
    return out


async def dev_database(env: Mapping[str, str]) -> tuple[str, str]:
    """DATABASE_URL as given, else a `jamjet` database on whatever Postgres was found."""
    url, how = await resolve_database_url(env)
    if "DATABASE_URL" in env:
        return url, how
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DEV_DATABASE):
            await conn.execute(f'CREATE DATABASE "{DEV_DATABASE}"')
    finally:
        await conn.close()
    return with_database(url, DEV_DATABASE), how


@dataclass(slots=True)
class ServiceProcesses:
    env: dict[str, str]
    log_dir: Path
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def start(self) -> None:
        for name in SERVICES:
            await self.add(name, name)

    async def add(self, name: str, service: str) -> None:
        """Start ``services.<service>`` as ``name`` (a second replica, say), logging to ``<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{service}",
            env=self.env,
            stdout=log,
            stderr=log,
            # Ctrl-C reaches the dev stack, which stops them in order; if it dies, so do they.
            start_new_session=True,
            preexec_fn=parent_death_signal(),
        )
        log.close()

    async def first_exit(self) -> str:
        """The name of the first service process to exit."""
        waits = {asyncio.ensure_future(proc.wait()): name for name, proc in self.procs.items()}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waits[done.pop()]

    async def stop(self) -> None:
        """SIGTERM every service, then SIGKILL those still running past their grace period + a margin."""
        grace = float(self.env[GRACE_ENV])
        for proc in self.procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), grace + STOP_MARGIN_SECS)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def service_env(nats_url: str, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NATS_URL=nats_url, DATABASE_URL=database_url)
    env.setdefault(GRACE_ENV, "10")
    # A developer's own machine: python_fn and MCP stdio run without allowlists (docs/security-executors.md).
    env.setdefault("JAMJET_DEV_MODE", "1")
    # ... and the scheduler runs a plan's lone short node itself, with no work item (docs/architecture.md,
    # "Inline nodes"); set it to `none` to send every node to the workers.
    env.setdefault(INLINE_KINDS_ENV, "python_fn,condition,parallel,join")
    # The HTTP gateway with one development token, which the dev stack prints (the gateway logs to a file).
    env.setdefault("JAMJET_GATEWAY_DEV", "true")
    env.setdefault("JAMJET_GATEWAY_DEV_TOKEN", secrets.token_urlsafe(24))
    env.setdefault("JAMJET_GATEWAY_PORT", str(GATEWAY_PORT if port_is_free(GATEWAY_PORT) else free_port()))
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, str(Path(root) / "libs"), env.get("PYTHONPATH")) if p
    )
    return env
