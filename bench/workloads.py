"""The two workloads, driven through the running system over NATS, and what each run measured."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from bench import steps
from bench.traffic import Traffic
from jamjet_client import RuntimeClient, Unavailable
from jamjet_common import streams

TERMINAL = (b'"workflow_completed"', b'"workflow_failed"', b'"workflow_cancelled"')


@dataclass
class Waiters:
    """Futures resolved when an execution's terminal event is seen on jamjet.events.>."""

    done: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def expect(self, execution_id: str) -> asyncio.Future[float]:
        return self.done.setdefault(execution_id, asyncio.get_running_loop().create_future())

    async def on_msg(self, msg: Msg) -> None:
        if any(tag in msg.data for tag in TERMINAL):
            execution_id = msg.subject.rsplit(".", 1)[1]
            future = self.expect(execution_id)
            if not future.done():
                future.set_result(time.perf_counter())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSplit:
    """CPU per step of each process over one workload run (``cpu_ms_per_step`` is their sum)."""

    pids: dict[str, int]
    steps: int
    start: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.start = {name: process_cpu(pid) for name, pid in self.pids.items()}

    def per_step(self) -> dict[str, float]:
        split = {
            f"cpu_ms_per_step_{name}": (process_cpu(pid) - self.start[name]) * 1000 / self.steps
            for name, pid in self.pids.items()
        }
        return {"cpu_ms_per_step": sum(split.values()), **split}


async def store_caught_up(nc: Client) -> None:
    """Wait until the event store has written every event (its consumer has nothing pending or
    unacknowledged), so that a run's CPU includes the store's work for it: a store that lags would
    otherwise do that work after the run, outside every measurement."""
    js = nc.jetstream()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = await js.consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
        if not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("the event store did not catch up with the events in 120 s")


async def start_execution(nc: Client, workflow_id: str, execution_id: str) -> None:
    await RuntimeClient(nc, timeout=30).start(workflow_id, execution_id=execution_id)


async def start(
    nc: Client, waiters: Waiters, workflow_id: str, index: int, run: int | str
) -> asyncio.Future[float]:
    execution_id = f"exec_bench_{workflow_id}_{run}_{index}"
    done = waiters.expect(execution_id)
    await start_execution(nc, workflow_id, execution_id)
    return done


async def chain10(
    nc: Client, waiters: Waiters, run: int | str, pids: dict[str, int], monitor_port: int | None = None
) -> dict[str, float]:
    latencies = []
    cpu = CpuSplit(pids, 300)
    traffic = Traffic(monitor_port, 300)
    for i in range(30):
        t0 = time.perf_counter()
        done = await start(nc, waiters, "chain10", i, run)
        latencies.append((await asyncio.wait_for(done, 60)) - t0)
    q = statistics.quantiles(latencies, n=20)
    await store_caught_up(nc)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "per_step_ms": statistics.median(latencies) * 1000 / 10,
        **cpu.per_step(),
        **traffic.per_step(),
    }


async def diamond(
    nc: Client, waiters: Waiters, run: int | str, pids: dict[str, int], monitor_port: int | None = None
) -> dict[str, float]:
    cpu = CpuSplit(pids, 2000)
    traffic = Traffic(monitor_port, 2000)
    t0 = time.perf_counter()
    dones = await asyncio.gather(*(start(nc, waiters, "diamond", i, run) for i in range(200)))
    await asyncio.wait_for(asyncio.gather(*dones), 300)
    wall = time.perf_counter() - t0
    await store_caught_up(nc)
    steps = {"wall_s": wall, "executions_per_s": 200 / wall, "steps_per_s": 2000 / wall}
    return {**steps, **cpu.per_step(), **traffic.per_step()}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


async def register(nc: Client, irs: list[dict[str, Any]] | None = None) -> None:
    client = RuntimeClient(nc, timeout=2)
    for ir in irs or [steps.chain10(), steps.diamond(), steps.one_step()]:
        for _ in range(60):
            try:
                await client.register(ir)
                break
            except Unavailable:
                await asyncio.sleep(0.5)
        else:
            raise SystemExit("the scheduler did not answer")
