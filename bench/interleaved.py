"""Two checkouts side by side: both stacks up at once, W1 blocks (or W2 runs) alternating between them.

``cd /tmp && PYTHONPATH=<repo>:<repo>/libs python -m bench.interleaved BASE CANDIDATE [--blocks 10]
[--w2]``, where BASE and CANDIDATE are checkouts of this repository (``git worktree add /tmp/base
<commit>``): run from a directory that is neither, each stack's services import their own checkout.

Runs one after the other on this shared machine differ by ±10%, more than most single changes move a
step; blocks alternating between two stacks that are both up see the same load, and the ratio of their
medians holds from one invocation to the next within a few percent (docs/benchmarks.md, ninth pass).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import Client

from bench import steps
from bench.__main__ import bench_database
from bench.workloads import Waiters, chain10, diamond, register
from jamjet_common.local.nats_server import free_port
from services.devstack.stack import ServiceProcesses, service_env, start_nats

Workload = Callable[[Client, Waiters, int | str, dict[str, int]], Awaitable[dict[str, float]]]


@dataclass
class Side:
    name: str
    nc: Client
    waiters: Waiters
    pids: dict[str, int]
    figures: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@asynccontextmanager
async def stack(root: Path, tmp: Path, name: str) -> AsyncIterator[Side]:
    """A dev stack whose services import ``root``, on its own nats-server and database."""
    server = start_nats(tmp / f"nats-{name}", monitor_port=free_port())
    env = service_env(server.url, await bench_database(os.environ, f"jamjet_bench_{name}"))
    env.update(JAMJET_LOG_LEVEL="WARNING", JAMJET_GATEWAY_PORT=str(free_port()))
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "libs")])
    services = ServiceProcesses(env, tmp / f"logs-{name}")
    await services.start()
    nc = await nats.connect(server.url)
    try:
        waiters = Waiters()
        await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
        await register(nc, [steps.chain10(), steps.diamond()])
        pids = {"nats": server.pid or 0, **{n: p.pid for n, p in services.procs.items()}}
        await chain10(nc, waiters, "warmup", pids)
        yield Side(name, nc, waiters, pids)
    finally:
        await nc.drain()
        await services.stop()
        server.close()


async def main(args: argparse.Namespace) -> None:
    workload: Workload = diamond if args.w2 else chain10
    key = "steps_per_s" if args.w2 else "per_step_ms"
    with tempfile.TemporaryDirectory(prefix="jamjet-interleaved-") as tmp:
        async with (
            stack(args.base.resolve(), Path(tmp), "base") as base,
            stack(args.candidate.resolve(), Path(tmp), "candidate") as candidate,
        ):
            for block in range(args.blocks):
                for side in (base, candidate) if block % 2 == 0 else (candidate, base):
                    figures = await workload(side.nc, side.waiters, f"b{block}", side.pids)
                    side.figures.append(figures[key])
                    side.cpu.append(figures["cpu_ms_per_step"])
    report(base, candidate, key)


def report(base: Side, candidate: Side, key: str) -> None:
    for side in (base, candidate):
        values = " ".join(f"{v:.2f}" for v in side.figures)
        cpu = statistics.median(side.cpu)
        print(f"{side.name}: {key} median {statistics.median(side.figures):.3f} ({values}), CPU {cpu:.3f}")
    ratio = statistics.median(candidate.figures) / statistics.median(base.figures)
    print(f"candidate / base: {ratio:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--w2", action="store_true", help="W2 diamond runs instead of W1 blocks")
    asyncio.run(main(parser.parse_args()))
