"""`make bench`: two workloads through the whole running system, medians over 3 runs.

W1 chain10: 10 sequential no-op python_fn steps, 30 executions one after another.
W2 diamond: A, then B1..B8 in parallel, then C; 200 executions submitted at once.
Gateway: what the HTTP gateway adds to a start round trip, and from an event stored to an SSE client.
W2 again with 2 and 3 scheduler replicas, then a burst of --burst one-step starts (bench/scale.py).
The services run as separate processes, as in production; CPU time is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench import scale, steps
from bench.gateway import gateway_process, measure_gateway
from jamjet_client import RuntimeClient, Unavailable
from services.devstack.stack import ServiceProcesses, dev_database, service_env, start_nats

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


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def start(
    nc: Client, waiters: Waiters, workflow_id: str, index: int, run: int
) -> asyncio.Future[float]:
    execution_id = f"exec_bench_{workflow_id}_{run}_{index}"
    done = waiters.expect(execution_id)
    await RuntimeClient(nc, timeout=30).start(workflow_id, execution_id=execution_id)
    return done


async def chain10(nc: Client, waiters: Waiters, run: int, pids: list[int]) -> dict[str, float]:
    latencies = []
    cpu0 = cpu_seconds(pids)
    for i in range(30):
        t0 = time.perf_counter()
        done = await start(nc, waiters, "chain10", i, run)
        latencies.append((await asyncio.wait_for(done, 60)) - t0)
    cpu = cpu_seconds(pids) - cpu0
    q = statistics.quantiles(latencies, n=20)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "per_step_ms": statistics.median(latencies) * 1000 / 10,
        "cpu_ms_per_step": cpu * 1000 / 300,
    }


async def diamond(nc: Client, waiters: Waiters, run: int, pids: list[int]) -> dict[str, float]:
    cpu0 = cpu_seconds(pids)
    t0 = time.perf_counter()
    dones = await asyncio.gather(*(start(nc, waiters, "diamond", i, run) for i in range(200)))
    await asyncio.wait_for(asyncio.gather(*dones), 300)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    return {
        "wall_s": wall,
        "executions_per_s": 200 / wall,
        "steps_per_s": 2000 / wall,
        "cpu_ms_per_step": cpu * 1000 / 2000,
    }


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


async def register(nc: Client) -> None:
    client = RuntimeClient(nc, timeout=2)
    for ir in (steps.chain10(), steps.diamond(), steps.one_step()):
        for _ in range(60):
            try:
                await client.register(ir)
                break
            except Unavailable:
                await asyncio.sleep(0.5)
        else:
            raise SystemExit("the scheduler did not answer")


async def main(runs: int, burst: int) -> None:
    with tempfile.TemporaryDirectory(prefix="jamjet-bench-") as tmp:
        server = start_nats(Path(tmp) / "nats")
        database_url, _ = await dev_database(os.environ)
        env = service_env(server.url, database_url)
        env["JAMJET_LOG_LEVEL"] = "WARNING"
        services = ServiceProcesses(env, Path(tmp) / "logs")
        await services.start()
        nc = await nats.connect(server.url)
        try:
            pids = [p.pid for p in services.procs.values()]
            waiters = await measure(nc, runs, [server.pid or 0, *pids])
            async with gateway_process(env, Path(tmp) / "logs") as (url, _):
                report_gateway(await measure_gateway(nc, url, runs))
            await measure_scale(nc, services, waiters, runs, burst)
        finally:
            await nc.drain()
            await services.stop()
            server.close()


async def measure(nc: Client, runs: int, pids: list[int]) -> Waiters:
    waiters = Waiters()
    await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
    await register(nc)
    await chain10(nc, waiters, -1, pids)  # warm-up: imports, caches, connections
    w1 = [await chain10(nc, waiters, run, pids) for run in range(runs)]
    w2 = [await diamond(nc, waiters, run, pids) for run in range(runs)]
    report(medians(w1), medians(w2), runs)
    return waiters


async def measure_scale(
    nc: Client, services: ServiceProcesses, waiters: Waiters, runs: int, burst: int
) -> None:
    by_replicas = await scale.w2_by_replicas(nc, services, diamond, waiters, runs)
    print("\n| workload | metric | value |\n|---|---|---|")
    for replicas, results in by_replicas.items():
        for key, value in medians(results).items():
            print(f"| W2 diamond, {replicas} scheduler(s) | {key} | {value:.2f} |")
    if burst > 0:
        for key, value in (await scale.burst(nc, waiters, burst)).items():
            print(f"| burst of {burst} starts | {key} | {value:.2f} |")


def report(w1: dict[str, float], w2: dict[str, float], runs: int) -> None:
    print(f"\nmedians over {runs} runs (services as separate processes, CPU = services + nats-server)\n")
    print("| workload | metric | value |\n|---|---|---|")
    for key, value in w1.items():
        print(f"| W1 chain10 | {key} | {value:.2f} |")
    for key, value in w2.items():
        print(f"| W2 diamond | {key} | {value:.2f} |")


def report_gateway(figures: dict[str, float]) -> None:
    print()
    for key, value in figures.items():
        print(f"| gateway | {key} | {value:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst", type=int, default=10_000, help="starts sent at once (0: none)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.burst))
