"""Scale-out workloads of `make bench`: W2 with 1, 2 and 3 scheduler replicas, and a burst of starts.

W2 per replica count: the same 200 diamonds, once the replicas have divided the partitions between
them (every replica holds a lease). On 2 cores the point is that the work divides, not that it speeds up.
Burst: N one-step executions started at once; each start's reply time, and the time until all are done.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.client import Client

from bench.workloads import CpuSplit
from jamjet_common import streams
from jamjet_common.asking import REQUEST_ID_HEADER
from jamjet_common.partitions import KV_SCHEDULER_LEASES, SCHED_EVENTS
from services.devstack.stack import ServiceProcesses

Diamond = Callable[[Client, Any, int, dict[str, int]], Coroutine[Any, Any, dict[str, float]]]
SPREAD_TIMEOUT_SECS = 60.0


async def owners(nc: Client) -> set[str]:
    kv = await nc.jetstream().key_value(KV_SCHEDULER_LEASES)
    found = set()
    for key in await kv.keys():
        if key.startswith("partition."):
            entry = await kv.get(key)
            found.add(bytes(entry.value or b"").decode())
    return found


async def spread_over(nc: Client, replicas: int) -> None:
    """Wait until ``replicas`` schedulers each hold some partition."""
    deadline = time.monotonic() + SPREAD_TIMEOUT_SECS
    while len(await owners(nc)) < replicas:
        if time.monotonic() > deadline:
            raise SystemExit(f"the partitions did not spread over {replicas} schedulers")
        await asyncio.sleep(0.5)


async def w2_by_replicas(
    nc: Client, services: ServiceProcesses, diamond: Diamond, waiters: Any, runs: int
) -> dict[int, list[dict[str, float]]]:
    results: dict[int, list[dict[str, float]]] = {}
    for replicas in (1, 2, 3):
        if replicas > 1:
            await services.add(f"scheduler{replicas}", "scheduler")
        await spread_over(nc, replicas)
        pids = {name: p.pid for name, p in services.procs.items()}
        results[replicas] = [await diamond(nc, waiters, 100 * replicas + run, pids) for run in range(runs)]
    return results


async def timed_start(
    nc: Client, waiters: Any, index: int, prefix: str
) -> tuple[float, asyncio.Future[float]]:
    execution_id = f"exec_bench_{prefix}_{index}"
    done = waiters.expect(execution_id)
    body = {"workflow_id": "one_step", "input": {}, "execution_id": execution_id}
    t0 = time.perf_counter()
    # With a request id, as the typed client and the README's plain clients send a start.
    headers = {REQUEST_ID_HEADER: uuid.uuid4().hex}
    data = json.dumps(body).encode()
    reply = await nc.request("jamjet.cmd.executions.start", data, timeout=120, headers=headers)
    assert json.loads(reply.data)["ok"], reply.data
    return time.perf_counter() - t0, done


async def burst(
    nc: Client, waiters: Any, count: int, prefix: str = "burst", pids: dict[str, int] | None = None
) -> dict[str, float]:
    """Reply times and the time until all are done; with ``pids``, CPU per execution (one step each)."""
    cpu = CpuSplit(pids or {}, count)
    t0, client_cpu = time.perf_counter(), time.process_time()
    started = await asyncio.gather(*(timed_start(nc, waiters, i, prefix) for i in range(count)))
    # The bench's own process shares the cores: its CPU until the last reply, for comparison.
    client_cpu = time.process_time() - client_cpu
    replies = sorted(latency for latency, _ in started)
    finished = await asyncio.wait_for(asyncio.gather(*(done for _, done in started)), 1800)
    quantiles = statistics.quantiles(replies, n=100)
    done = statistics.quantiles([at - t0 for at in finished], n=100)
    return {
        "starts": count,
        "reply_p50_s": statistics.median(replies),
        "reply_p90_s": quantiles[89],
        "reply_p99_s": quantiles[98],
        "reply_max_s": replies[-1],
        "done_p50_s": done[49],
        "done_p99_s": done[98],
        "all_done_s": time.perf_counter() - t0,
        "bench_client_cpu_s_until_last_reply": client_cpu,
        **(cpu.per_step() if pids else {}),
        **await redelivered(nc),
    }


async def redelivered(nc: Client) -> dict[str, float]:
    """Deliveries beyond each stream's messages (an ack wait ran out, the work was done twice).

    Each stream's consumers see disjoint subjects here (partitions; one worker queue; one store), so
    deliveries counted by their consumer sequences minus the messages stored is what was redelivered.
    """
    js = nc.jetstream()
    counts: dict[str, float] = {}
    for stream in (streams.CMDS, streams.EVENTS, SCHED_EVENTS, streams.WORK):
        consumers = await js.consumers_info(stream)
        delivered = sum((c.delivered.consumer_seq or 0) if c.delivered else 0 for c in consumers)
        stored = (await js.stream_info(stream)).state.last_seq or 0
        counts[f"redelivered_{stream}"] = max(delivered - stored, 0)
    return counts
