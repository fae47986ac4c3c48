"""An upgrade from the pre-partition scheduler: its consumer of every event must not be left behind.

Before partitions, all scheduler replicas shared the durable consumer ``jamjet-scheduler`` of EVENTS.
Nothing reads it after the upgrade, so it would pile up every event unacked. The scheduler deletes it
when it provisions the streams itself; ``jamjet-admin init`` does where it may not (secured deploys).
"""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from jamjet_common import partitions, streams, subjects
from jamjet_common.config import Env
from services.admin import ops
from services.scheduler.config import DEFAULT_PARTITIONS
from services.scheduler.service import SchedulerService
from tests.harness import running, service_env
from tests.helpers import eventually


async def leave_legacy_consumer(js: JetStreamContext) -> None:
    """What the pre-partition scheduler left: the streams, and its consumer of every event."""
    await streams.ensure_streams(js, streams.StreamLimits.from_env(Env({})))
    config = streams.durable_consumer(
        streams.LEGACY_SCHEDULER_EVENTS_CONSUMER, [subjects.EVENTS_ALL], ack_wait=30, max_ack_pending=1000
    )
    await js.add_consumer(streams.EVENTS, config=config)
    assert (await js.consumer_info(streams.EVENTS, streams.LEGACY_SCHEDULER_EVENTS_CONSUMER)).name


async def legacy_consumer_gone(js: JetStreamContext) -> None:
    with pytest.raises(NotFoundError):
        await js.consumer_info(streams.EVENTS, streams.LEGACY_SCHEDULER_EVENTS_CONSUMER)


async def test_the_scheduler_deletes_the_pre_partition_consumer_at_start(nc: Client, nats_url: str) -> None:
    js = nc.jetstream()
    await leave_legacy_consumer(js)
    async with running(SchedulerService.from_env(Env(service_env(nats_url)))):
        await legacy_consumer_gone(js)


async def test_admin_init_deletes_the_pre_partition_consumer(nc: Client, nats_url: str) -> None:
    js = nc.jetstream()
    await leave_legacy_consumer(js)
    await ops.init_streams(Env(service_env(nats_url)))
    await legacy_consumer_gone(js)


async def test_partition_consumers_live_in_server_memory_and_one_made_on_disk_before_stays(
    nc: Client, nats_url: str
) -> None:
    js = nc.jetstream()
    env = Env(service_env(nats_url))
    limits = streams.StreamLimits.from_env(env)
    await streams.ensure_streams(js, limits)
    await partitions.ensure_partitioned(js, limits, DEFAULT_PARTITIONS, 10.0)
    on_disk = streams.durable_consumer(
        partitions.consumer_name(0), [partitions.partition_filter(0)], ack_wait=30, max_ack_pending=1666
    )
    await js.add_consumer(partitions.SCHED_EVENTS, config=on_disk)  # what an earlier version made
    async with running(SchedulerService.from_env(env)):
        kept = await js.consumer_info(partitions.SCHED_EVENTS, partitions.consumer_name(0))
        made = await js.consumer_info(partitions.SCHED_EVENTS, partitions.consumer_name(1))
    assert not kept.config.mem_storage
    assert made.config.mem_storage


async def test_a_scheduler_makes_its_partition_consumers_again_when_they_are_gone(
    nc: Client, nats_url: str
) -> None:
    js = nc.jetstream()
    names = [partitions.consumer_name(p) for p in range(DEFAULT_PARTITIONS)]
    async with running(SchedulerService.from_env(Env(service_env(nats_url)))):
        await eventually(lambda: _all_exist(js, names), message="the partition consumers were never made")
        for name in names:  # what a restart of the server does to consumers kept in its memory
            await js.delete_consumer(partitions.SCHED_EVENTS, name)
        await eventually(lambda: _all_exist(js, names), message="a partition consumer was not made again")


async def _all_exist(js: JetStreamContext, names: list[str]) -> bool:
    for name in names:
        try:
            await js.consumer_info(partitions.SCHED_EVENTS, name)
        except NotFoundError:
            return False
    return True
