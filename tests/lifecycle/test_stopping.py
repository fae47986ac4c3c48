"""Stopping never depends on the network: each service, a real process, exits 0 within the grace period
plus 5 s of SIGTERM whether NATS and Postgres are up, never reached, gone, hung or black-holed.
"""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from jamjet_common import streams
from jamjet_common.eventlog import EventLog
from jamjet_common.events import WorkflowStarted
from jamjet_common.local.nats_server import LocalNatsServer, free_port
from tests.event_store.proxy import PostgresRelay
from tests.faults.procs import ServiceProcesses
from tests.helpers import eventually
from tests.lifecycle.conftest import EXIT_LIMIT_SECS, Launch, RelayFactory

START_SECS = 60.0
"""Four Python services starting at once on a loaded machine can take a while."""
NATS_TROUBLE = "WARNING jamjet_common.bus: nats"
"""What a service logs while it cannot reach NATS (on every failed attempt)."""
STARTED = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={})


async def all_ready(procs: ServiceProcesses) -> None:
    await asyncio.gather(*(procs.wait_ready(name, START_SECS) for name in procs.names))


async def all_logged(procs: ServiceProcesses, needle: str) -> None:
    try:
        await eventually(lambda: all(procs.grep(name, needle) for name in procs.names), timeout=START_SECS)
    except AssertionError:
        raise AssertionError(f"not every service logged {needle!r}:\n{procs.tails()}") from None


async def terminate_all(procs: ServiceProcesses) -> None:
    codes = await asyncio.gather(*(procs.term(name, EXIT_LIMIT_SECS) for name in procs.names))
    expected = dict.fromkeys(procs.names, 0)
    assert dict(zip(procs.names, codes, strict=True)) == expected, (
        f"exit codes {EXIT_LIMIT_SECS:g}s after SIGTERM (None: still running):\n{procs.tails()}"
    )


async def test_services_connect_through_a_server_list_and_stop_in_time(
    launch: Launch, nats_server: LocalNatsServer, database_url: str
) -> None:
    # NATS_URL as a cluster gives it; the first server never answers.
    procs = await launch(f"nats://127.0.0.1:{free_port()},{nats_server.url}", database_url)
    await all_ready(procs)
    await terminate_all(procs)


async def test_services_stop_while_nats_refuses_the_first_connection(
    launch: Launch, database_url: str
) -> None:
    procs = await launch(f"nats://127.0.0.1:{free_port()}", database_url)
    await all_logged(procs, NATS_TROUBLE)
    await terminate_all(procs)


async def test_services_stop_while_the_first_connection_is_black_holed(
    launch: Launch, relays: RelayFactory, nats_server: LocalNatsServer, database_url: str
) -> None:
    relay = await relays(nats_server.port)
    relay.black_hole()
    procs = await launch(f"nats://{relay.address}", database_url)
    # Each service has a connection open and waits for the server's INFO, which never comes.
    await eventually(lambda: relay.accepted >= len(procs.names), timeout=START_SECS)
    await terminate_all(procs)


@pytest.mark.parametrize("fault", ["gone", "hung", "black_holed"])
async def test_services_stop_when_nats_fails_after_start(
    launch: Launch, relays: RelayFactory, nats_server: LocalNatsServer, database_url: str, fault: str
) -> None:
    relay = await relays(nats_server.port)
    procs = await launch(f"nats://{relay.address}", database_url)
    await all_ready(procs)
    pid = nats_server.pid
    assert pid is not None
    if fault == "gone":
        await relay.cut()
        await all_logged(procs, "disconnected")
    elif fault == "hung":
        os.kill(pid, signal.SIGSTOP)
    else:
        relay.black_hole()
    try:
        await terminate_all(procs)
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("fault", ["refused", "black_holed"])
async def test_event_store_stops_while_postgres_was_never_reached(
    launch: Launch, nats_server: LocalNatsServer, database_url: str, fault: str
) -> None:
    relay = PostgresRelay(database_url)
    await relay.start()
    try:
        if fault == "refused":
            await relay.cut()
        else:
            relay.black_hole()
        procs = await launch(nats_server.url, relay.url, ("event_store",))
        await all_ready(procs)
        if fault == "refused":
            await all_logged(procs, "unavailable")
        else:
            await eventually(lambda: relay.accepted, message="the store never tried Postgres")
        await terminate_all(procs)
    finally:
        await relay.close()


@pytest.mark.parametrize("fault", ["gone", "black_holed"])
async def test_event_store_stops_in_the_middle_of_a_write_and_loses_nothing(
    launch: Launch, nats_server: LocalNatsServer, nc: NATS, database_url: str, fault: str
) -> None:
    relay = PostgresRelay(database_url)
    await relay.start()
    # The batch cut off is left unacknowledged: JetStream hands it out again after the ack wait.
    ack_wait = {"JAMJET_STORE_ACK_WAIT_SECS": "2"}
    try:
        procs = await launch(nats_server.url, relay.url, ("event_store",), **ack_wait)
        await all_logged(procs, "schema migrated")
        await (relay.cut() if fault == "gone" else _black_hole(relay))
        js = nc.jetstream(timeout=10)
        await EventLog(nc, js).append("acme", "exec_inflight", STARTED)
        await eventually(lambda: _ack_pending(nc), message="the store never took the event")
        await terminate_all(procs)
    finally:
        await relay.close()
    await all_ready(await launch(nats_server.url, database_url, ("event_store",), **ack_wait))
    await eventually(lambda: _stored(database_url, "exec_inflight"), timeout=30, message="the event was lost")


async def _black_hole(relay: PostgresRelay) -> None:
    relay.black_hole()


async def _ack_pending(nc: NATS) -> bool:
    info = await nc.jetstream().consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
    return info.num_ack_pending > 0


async def _stored(database_url: str, execution_id: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM events WHERE execution_id = $1", execution_id)
    finally:
        await conn.close()
    return bool(count == 1)
