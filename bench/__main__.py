"""`make bench`: two workloads through the whole running system, medians over 3 runs.

W1 chain10: 10 sequential no-op python_fn steps, 30 executions one after another.
W2 diamond: A, then B1..B8 in parallel, then C; 200 executions submitted at once.
Gateway: what the HTTP gateway adds to a start round trip, and from an event stored to an SSE client.
W2 again with 2 and 3 scheduler replicas, then a burst of --burst one-step starts (bench/scale.py).
The services run as separate processes, as in production; CPU time is read from /proc.
``--peers`` then runs LangGraph the same way (`make bench-peers`); ``--parked`` measures the scheduler
as parked executions pile up (`make bench-parked`); ``--gateway`` runs the gateway figures alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import nats
from nats.aio.client import Client

from bench import parked, peers, scale, steps
from bench.gateway import gateway_process, measure_gateway
from bench.workloads import Waiters, chain10, diamond, medians, register
from jamjet_common.local.nats_server import free_port
from jamjet_common.local.postgres import (
    create_database,
    drop_database,
    resolve_database_url,
    with_database,
)
from services.devstack.stack import ServiceProcesses, dev_database, service_env, start_nats
from services.scheduler.config import INLINE_KINDS_ENV

BENCH_DATABASE = "jamjet_bench"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="jamjet-bench-") as tmp:
        monitor_port = free_port()
        server = start_nats(Path(tmp) / "nats", monitor_port=monitor_port)
        database_url = await bench_database(os.environ)
        env = service_env(server.url, database_url)
        env["JAMJET_LOG_LEVEL"] = "WARNING"
        print(f"{INLINE_KINDS_ENV}={env.get(INLINE_KINDS_ENV, '')} (docs/architecture.md, 'Inline nodes')")
        services = ServiceProcesses(env, Path(tmp) / "logs")
        await services.start()
        nc = await nats.connect(server.url)
        try:
            if args.burst_only:
                await measure_burst(nc, services, args.burst_only, args.burst, {"nats": server.pid or 0})
                return
            if args.gateway:
                await register(nc, [steps.one_step(), steps.gated()])
                await gateway(nc, env, Path(tmp) / "logs", args.runs)
                return
            pids = {"nats": server.pid or 0, **{name: p.pid for name, p in services.procs.items()}}
            results = await measure(nc, args, pids, monitor_port)
            if not args.core:
                await gateway(nc, env, Path(tmp) / "logs", args.runs)
                await measure_scale(nc, services, args.runs, args.burst)
        finally:
            await nc.drain()
            await services.stop()
            server.close()
    if args.peers:
        peers.report(*results, await peers.langgraph(with_database(database_url, "postgres"), args.runs))


async def bench_database(env: Mapping[str, str], name: str = BENCH_DATABASE) -> str:
    """A fresh `jamjet_bench` database (or ``name``) each invocation, unless DATABASE_URL names one.

    The bench's execution ids repeat from one invocation to the next (and nats-server's store is new
    each time): in a database that outlived the last run, the store would take every event for a
    stray copy of an execution it already holds, refuse it and log why, which is not what is measured.
    """
    if "DATABASE_URL" in env:
        return (await dev_database(env))[0]
    admin_url, _ = await resolve_database_url(env)
    await drop_database(admin_url, name)
    return await create_database(admin_url, name)


async def measure(
    nc: Client, args: argparse.Namespace, pids: dict[str, int], monitor_port: int
) -> tuple[dict[str, float], dict[str, float]]:
    waiters = Waiters()
    await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
    await register(nc, [steps.chain10(), steps.diamond(), steps.one_step(), steps.parked(), steps.gated()])
    await chain10(nc, waiters, "warmup", pids)  # imports, caches, connections
    await diamond(nc, waiters, "warmup", pids)
    if args.parked:
        parked.report(await parked.scale(nc, waiters, args.parked, pids))
    w1 = medians([await chain10(nc, waiters, run, pids, monitor_port) for run in range(args.runs)])
    w2 = medians([await diamond(nc, waiters, run, pids, monitor_port) for run in range(args.runs)])
    report(w1, w2, args.runs)
    return w1, w2


async def gateway(nc: Client, env: dict[str, str], log_dir: Path, runs: int) -> None:
    async with gateway_process(env, log_dir) as (url, _):
        report_gateway(await measure_gateway(nc, url, runs))


async def measure_scale(nc: Client, services: ServiceProcesses, runs: int, burst: int) -> None:
    waiters = Waiters()
    await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
    by_replicas = await scale.w2_by_replicas(nc, services, diamond, waiters, runs)
    print("\n| workload | metric | value |\n|---|---|---|")
    for replicas, results in by_replicas.items():
        for key, value in medians(results).items():
            print(f"| W2 diamond, {replicas} scheduler(s) | {key} | {value:.2f} |")
    if burst > 0:
        report_burst(await scale.burst(nc, waiters, burst), burst)


async def measure_burst(
    nc: Client, services: ServiceProcesses, schedulers: int, burst: int, pids: dict[str, int]
) -> None:
    """The burst alone (``--burst-only N``: with N scheduler replicas), after a small warm-up burst."""
    waiters = Waiters()
    await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
    await register(nc, [steps.one_step()])
    for replica in range(2, schedulers + 1):
        await services.add(f"scheduler{replica}", "scheduler")
    await scale.spread_over(nc, schedulers)
    await scale.burst(nc, waiters, 100, prefix="warmup")
    print(f"\nload before: {os.getloadavg()[0]:.2f}")
    pids |= {name: p.pid for name, p in services.procs.items()}
    report_burst(await scale.burst(nc, waiters, burst, pids=pids), burst)
    print(f"load after: {os.getloadavg()[0]:.2f}")


def report_burst(figures: dict[str, float], burst: int) -> None:
    print("\n| workload | metric | value |\n|---|---|---|")
    for key, value in figures.items():
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


def levels(text: str) -> list[int]:
    return sorted(int(level) for level in text.split(","))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers", action="store_true", help="also run LangGraph and print the ratios")
    parser.add_argument("--parked", type=levels, default=[], help="e.g. 10,100,1000,10000")
    parser.add_argument("--core", action="store_true", help="W1 and W2 only (no gateway, no scale-out)")
    parser.add_argument("--gateway", action="store_true", help="only the gateway figures")
    parser.add_argument("--burst", type=int, default=10_000, help="starts sent at once (0: none)")
    parser.add_argument(
        "--burst-only",
        type=int,
        default=0,
        metavar="SCHEDULERS",
        help="only the burst, with this many schedulers",
    )
    asyncio.run(main(parser.parse_args()))
