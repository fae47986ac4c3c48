"""The event log on a real 3-node cluster with R3 streams, where an append race is error 10164."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.bus import connect
from jamjet_common.config import Env
from jamjet_common.errors import AppendConflictError
from jamjet_common.eventlog import EMPTY, EventLog
from jamjet_common.events import NodeScheduled, WorkflowStarted
from jamjet_common.local.nats_cluster import LocalNatsCluster
from jamjet_common.streams import EVENTS, KV_TENANTS, StreamLimits, ensure_streams
from tests.conftest import drain_or_close

T = "acme"
STARTED = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={})


def scheduled(node_id: str) -> NodeScheduled:
    return NodeScheduled(node_id=node_id, queue_type="tool")


@pytest.fixture
async def cluster_js(nats_cluster: LocalNatsCluster) -> AsyncIterator[JetStreamContext]:
    """R3 streams on the cluster, through a connection made from the comma-separated ``NATS_URL``."""
    client = await connect(nats_cluster.url, "cluster-tests")
    js = client.jetstream(timeout=10)
    await ensure_streams(js, StreamLimits.from_env(Env({"JAMJET_STREAM_REPLICAS": "3"})))
    yield js
    await drain_or_close(client)


@pytest.fixture
async def clients(nats_cluster: LocalNatsCluster) -> AsyncIterator[list[NATS]]:
    """One client per server, so that racing writers reach the stream leader through different routes."""
    conns = [await nats.connect(url) for url in nats_cluster.urls]
    yield conns
    for client in conns:
        await drain_or_close(client)


async def test_streams_are_replicated_on_three_servers(cluster_js: JetStreamContext) -> None:
    info = await cluster_js.stream_info(EVENTS)
    assert info.config.num_replicas == 3
    assert info.cluster is not None and len(info.cluster.replicas or []) == 2
    # Replicated buckets answer through their leader: a read right after a write sees it.
    assert not (await cluster_js.stream_info(f"KV_{KV_TENANTS}")).config.allow_direct


async def test_a_stale_append_is_a_conflict_on_a_replicated_stream(
    cluster_js: JetStreamContext, clients: list[NATS]
) -> None:
    log = EventLog(clients[0], cluster_js)
    first = await log.append_after(T, "exec_stale", STARTED, EMPTY)
    await log.append_after(T, "exec_stale", scheduled("a"), first.tail)
    with pytest.raises(AppendConflictError):
        await log.append_after(T, "exec_stale", scheduled("b"), first.tail)


async def test_racing_writers_on_three_servers_give_a_gapless_log(
    cluster_js: JetStreamContext, clients: list[NATS]
) -> None:
    writers = [EventLog(client, client.jetstream(timeout=10)) for client in clients for _ in range(3)]

    async def write(index: int, log: EventLog) -> None:
        for n in range(20):
            await log.append(T, "exec_race", scheduled(f"w{index}-{n}"))

    await asyncio.gather(*(write(i, w) for i, w in enumerate(writers)))
    events = [event async for event, _ in writers[0].read(T, "exec_race")]
    assert [e.sequence for e in events] == list(range(1, 181))
    assert {e.kind.node for e in events} == {f"w{i}-{n}" for i in range(9) for n in range(20)}


async def test_a_writer_never_chains_on_a_replicated_stream(
    cluster_js: JetStreamContext, clients: list[NATS]
) -> None:
    # A leader checks a chained message's last message id against what it has applied, not against
    # proposals in flight: the check proves nothing there, so pairs go one append at a time.
    log = EventLog(clients[0], cluster_js)
    first = await log.append_after(T, "exec_chain", STARTED, EMPTY)
    await log.allow_chaining()
    assert not log.chains(first.tail)
