"""A nats-server running the configuration jamjet-admin generates: the service account with one user
per service, and two tenants, acme and globex, each with its own account and client key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from jamjet_common.config import Env
from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.service import Service
from services.admin import ops
from services.admin.accounts import AuthDir
from services.admin.permissions import inbox_prefix
from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e.stack import running_all
from tests.harness import service_env

TENANTS = ("acme", "globex")


@dataclass
class Secured:
    server: LocalNatsServer
    auth: AuthDir
    database_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def env(self, user: str, **extra: str) -> Env:
        """A service's environment: its own key, no stream provisioning."""
        seed = str(self.auth.seed_file(user))
        return Env(
            service_env(
                self.url,
                self.database_url,
                NATS_NKEY_SEED_FILE=seed,
                NATS_INBOX_PREFIX=inbox_prefix(user),
                JAMJET_PROVISION_STREAMS="false",
                **extra,
            )
        )

    async def connect(self, user: str) -> Client:
        """A client of the service account with ``user``'s key (operator, scheduler, worker, ...)."""
        return await _connect(self.url, self.auth.seed_file(user), inbox_prefix(user))

    async def tenant(self, tenant: str) -> Client:
        return await _connect(self.url, self.auth.tenant_seed_file(tenant), "_INBOX")


async def _connect(url: str, seed: Path, inbox: str) -> Client:
    async def quiet(exc: Exception) -> None:  # permission violations are what the tests provoke
        pass

    return await nats.connect(
        url, nkeys_seed=str(seed), inbox_prefix=inbox, error_cb=quiet, max_reconnect_attempts=2
    )


def write_server_config(auth: AuthDir) -> Path:
    main = auth.root / "nats.conf"
    main.write_text("include accounts.conf\n")
    return main


@pytest.fixture
def auth(tmp_path: Path) -> AuthDir:
    auth = AuthDir(tmp_path / "auth")
    ops.auth_init(auth)
    for tenant in TENANTS:
        ops.tenant_add(auth, tenant)
    return auth


@pytest.fixture
def secured_server(auth: AuthDir) -> Iterator[LocalNatsServer]:
    with LocalNatsServer(extra_args=["-c", str(write_server_config(auth))]) as server:
        yield server


@pytest.fixture
async def secured(
    secured_server: LocalNatsServer, auth: AuthDir, database_url: str
) -> AsyncIterator[Secured]:
    """The secured server with its streams created by the operator (``jamjet-admin init``)."""
    sec = Secured(secured_server, auth, database_url)
    await ops.init_streams(sec.env("operator"))
    yield sec


@contextlib.asynccontextmanager
async def clients(sec: Secured, *names: str) -> AsyncIterator[list[Client]]:
    """Connected clients: a tenant's name gives its client, any other name a service account user."""
    opened = [await (sec.tenant(n) if n in TENANTS else sec.connect(n)) for n in names]
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


@contextlib.asynccontextmanager
async def four_services(sec: Secured, **extra: str) -> AsyncIterator[list[Service]]:
    """The four services, each connected as its own user."""
    built: list[Service] = [
        EventStoreService.from_env(sec.env("event-store", **extra)),
        PolicyService.from_env(sec.env("policy", **extra)),
        SchedulerService.from_env(sec.env("scheduler", **extra)),
        WorkerService.from_env(sec.env("worker", **extra)),
    ]
    async with running_all(built):
        yield built
