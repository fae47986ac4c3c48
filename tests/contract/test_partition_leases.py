"""Scheduler replicas' partition leases on a real leases bucket: who is a member, who gets what."""

from __future__ import annotations

from nats.js import JetStreamContext

from jamjet_common.partitions import KV_SCHEDULER_LEASES, ensure_partitioned
from jamjet_common.streams import StreamLimits
from services.scheduler.partitions import PartitionLeases, member_key


class Recording:
    """A replica's host: records the partitions it was given and lost."""

    def __init__(self) -> None:
        self.given: list[int] = []
        self.taken: list[int] = []

    async def gained(self, partition: int) -> None:
        self.given.append(partition)

    async def releasing(self, partition: int) -> None:
        return None

    async def lost(self, partition: int) -> None:
        self.taken.append(partition)


async def test_a_replica_takes_only_its_share_beside_the_members_it_reads(
    provisioned: JetStreamContext, limits: StreamLimits
) -> None:
    await ensure_partitioned(provisioned, limits, 12, 30.0)
    kv = await provisioned.key_value(KV_SCHEDULER_LEASES)
    for other in ("replica-a", "replica-c"):
        await kv.put(member_key(other), other.encode())
    await kv.put(member_key("replica-gone"), b"gone")
    await kv.delete(member_key("replica-gone"))
    host = Recording()
    leases = PartitionLeases(kv, "replica-b", 12, 30.0, host)
    # Every tick reads the members whole (one tick missing the others would take all twelve).
    for _ in range(20):
        await leases.tick()
        assert sorted(leases.held) == [1, 4, 7, 10], sorted(leases.held)
    assert host.given == [1, 4, 7, 10] and host.taken == []
