"""jamjet-admin changes tenants while the server and the services keep running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.local.nats_server import LocalNatsServer
from services.admin.__main__ import run
from services.admin.accounts import AuthDir
from tests.e2e import workflows
from tests.helpers import eventually
from tests.security.conftest import Secured, clients, four_services, write_server_config
from tests.security.support import ask, ok, refused_connections

pytestmark = pytest.mark.e2e


@pytest.fixture
def secured_server(auth: AuthDir) -> Iterator[LocalNatsServer]:
    """The secured server with a pid file, so that jamjet-admin can reload it."""
    pid_file = auth.root / "nats.pid"
    with LocalNatsServer(extra_args=["-c", str(write_server_config(auth)), "-P", str(pid_file)]) as server:
        yield server


def _admin(sec: Secured, *argv: str) -> str:
    env = Env(
        {"JAMJET_AUTH_DIR": str(sec.auth.root), "JAMJET_NATS_PID_FILE": str(sec.auth.root / "nats.pid")}
    )
    return run(["--reload", *argv], env)


async def _connected(url: str, seed: Path) -> Client:
    nc = Client()
    try:
        await nc.connect(url, nkeys_seed=str(seed), allow_reconnect=False, connect_timeout=2)
    except BaseException:
        await nc.close()  # a refused connection's socket too
        raise
    return nc


async def _cannot_connect(url: str, seed: Path) -> bool:
    nc = Client()
    try:
        await nc.connect(url, nkeys_seed=str(seed), allow_reconnect=False, connect_timeout=2)
    except (nats.errors.Error, OSError):
        return True
    finally:
        await nc.close()  # a refused connection's socket too
    return False


async def test_a_tenant_added_suspended_and_removed_without_restarting_the_services(secured: Secured) -> None:
    with refused_connections():
        async with four_services(secured), clients(secured, "operator") as (op,):
            await ok(op, subjects.tenant_cmd("create"), {"id": "initech"})
            assert "initech added" in _admin(secured, "tenant", "add", "initech")
            seed = secured.auth.tenant_seed_file("initech")
            # Connecting during the reload can be refused or cut: retry, as a client would.
            # A request in the reload's window can be dropped while imports are re-created, and the
            # reload's second signal can cut the connection: retry, reconnecting, as a client would.
            link: list[Client] = []

            async def register() -> object:
                if not link or link[0].is_closed:
                    link[:] = [await _connected(secured.url, seed)]
                return await ask(link[0], subjects.CMD_REGISTER, {"ir": workflows.routed()}, timeout=3)

            await eventually(register, timeout=20)
            initech = link[0]
            started = await ok(
                initech, subjects.CMD_START, {"workflow_id": "routed", "input": {"go_left": True}}
            )
            assert started["execution_id"]
            _admin(secured, "tenant", "suspend", "initech")
            await eventually(lambda: initech.is_closed or not initech.is_connected, timeout=10)
            assert await _cannot_connect(secured.url, seed)
            await initech.close()
            _admin(secured, "tenant", "remove", "initech")
            assert not seed.exists() and "initech" not in secured.auth.conf.read_text()
            # Other tenants are still served (a request in the reload's own window is retried, as the
            # typed client does: docs/security.md).
            acme_seed = secured.auth.tenant_seed_file("acme")
            acme: list[Client] = []

            async def query() -> dict[str, object]:
                if not acme or acme[0].is_closed:  # the reload's signal can cut it too: reconnect
                    acme[:] = [await _connected(secured.url, acme_seed)]
                return await ask(acme[0], subjects.store("executions"), {}, timeout=3)

            try:
                answer = await eventually(query, timeout=30)
            finally:
                for client in acme:
                    await client.close()
            assert answer.get("ok"), answer
