"""A node's lease heartbeat: beats while the node runs, and costs nothing for a node shorter than a beat."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.worker.heartbeat import heartbeat
from tests.helpers import eventually


@dataclass
class _Delivered:
    num_delivered: int = 1


@dataclass
class _Lease:
    beats: int = 0
    headers: dict[str, str] | None = None
    metadata: _Delivered = field(default_factory=_Delivered)
    failing: bool = False

    async def in_progress(self) -> None:
        self.beats += 1
        if self.failing:
            raise ConnectionError("bus down")


def _heartbeat_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("heartbeat:")]


async def test_a_node_longer_than_a_beat_renews_its_lease_until_it_ends() -> None:
    lease = _Lease()
    async with heartbeat(lease, 0.02, "x/n"):
        await eventually(lambda: lease.beats >= 3)
    await eventually(lambda: not _heartbeat_tasks())
    ended_at = lease.beats
    await asyncio.sleep(0.1)  # the time of several beats: none may come after the node ended
    assert lease.beats == ended_at


async def test_a_node_shorter_than_a_beat_starts_no_task_and_never_beats() -> None:
    lease = _Lease()
    async with heartbeat(lease, 0.05, "x/short"):
        assert not _heartbeat_tasks()
    await asyncio.sleep(0.1)
    assert lease.beats == 0
    assert not _heartbeat_tasks()


async def test_a_failed_beat_is_followed_by_the_next() -> None:
    lease = _Lease(failing=True)
    async with heartbeat(lease, 0.02, "x/flaky"):
        await eventually(lambda: lease.beats >= 2)
