"""The scheduler's cost per event as parked executions pile up (``python -m bench --parked``).

Executions of ``parked`` wait at a ``wait`` node for a signal that never comes, so the scheduler holds
them in memory. At each level W2 runs once more; steps/s, the scheduler's CPU per step and its RSS are
read at each level, and the memory per parked execution from the RSS growth.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.workloads import Waiters, diamond, start_execution

PARK_CONCURRENCY = 100
PARKED_TAG = b'"node_scheduled"'


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Parking:
    """Counts parked executions as their wait node's NodeScheduled goes by."""

    def __init__(self) -> None:
        self.parked = 0

    async def on_msg(self, msg: Msg) -> None:
        if "_parked_" in msg.subject and PARKED_TAG in msg.data:
            self.parked += 1

    async def park(self, nc: Client, first: int, last: int) -> None:
        gate = asyncio.Semaphore(PARK_CONCURRENCY)

        async def one(index: int) -> None:
            async with gate:
                await start_execution(nc, "parked", f"exec_bench_parked_{index}")

        await asyncio.gather(*(one(i) for i in range(first, last)))
        deadline = time.monotonic() + 600
        while self.parked < last:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.parked} of {last} executions parked")
            await asyncio.sleep(0.2)


async def scale(
    nc: Client, waiters: Waiters, levels: list[int], pids: dict[str, int]
) -> list[dict[str, float]]:
    parking = Parking()
    await nc.subscribe("jamjet.events.>", cb=parking.on_msg)
    rows, parked = [], 0
    for level in levels:
        await parking.park(nc, parked, level)
        parked = level
        rss = rss_bytes(pids["scheduler"])
        w2 = await diamond(nc, waiters, f"parked{level}", pids)
        rows.append({"parked": level, "rss_mib": rss / 2**20, **w2})
    return rows


def report(rows: list[dict[str, float]]) -> None:
    print("\n| parked | W2 steps/s | CPU ms/step (all) | scheduler CPU ms/step | scheduler RSS MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['parked']:.0f} | {r['steps_per_s']:.0f} | {r['cpu_ms_per_step']:.2f} "
            f"| {r['cpu_ms_per_step_scheduler']:.3f} | {r['rss_mib']:.1f} |"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        per = (last["rss_mib"] - first["rss_mib"]) * 2**20 / (last["parked"] - first["parked"])
        print(f"\nscheduler memory per parked execution: {per / 1024:.1f} KiB")
