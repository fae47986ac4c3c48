"""What the HTTP gateway adds: to a start's round trip, and between an event stored and an SSE client.

The gateway runs as its own process, like the services. Start overhead = median of POST /executions
minus median of the same start as a NATS request, interleaved so both see the same load. SSE delay =
when an SSE follower gets each event minus when a plain NATS subscriber to jamjet.events got it (the
moment the EVENTS stream stored and republished it), both in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.http1 import Connection
from jamjet_client import RuntimeClient
from jamjet_common.events import HEAD_DECODER
from jamjet_common.local.nats_server import free_port

TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
STARTS = 100
FOLLOWED = 20
QUIET_SECS = 0.02
RUN_TAG = uuid.uuid4().hex[:8]
"""In every execution id: the dev database outlives a bench run, and a follower of an id started by an
earlier run would read that run's stored events at once."""


@contextlib.asynccontextmanager
async def gateway_process(env: dict[str, str], log_dir: Path) -> Any:
    port = free_port()
    env = env | {
        "JAMJET_GATEWAY_PORT": str(port),
        "JAMJET_GATEWAY_DEV": "true",
        "JAMJET_GATEWAY_DEV_TOKEN": TOKEN,
    }
    with (log_dir / "gateway.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.gateway", env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("the gateway did not start")


async def start_overhead(nc: Client, http: Connection, run: int) -> dict[str, float]:
    client = RuntimeClient(nc)
    over_http, over_nats, health = [], [], []
    for i in range(STARTS):
        t0 = time.perf_counter()
        body = msgspec.json.encode(
            {"workflow_id": "one_step", "execution_id": f"exec_gw_{RUN_TAG}_{run}_h{i}"}
        )
        answer = await http.request("POST", "/executions", body)
        assert answer.status == 201, bytes(answer.body)
        t1 = time.perf_counter()
        await client.start("one_step", execution_id=f"exec_gw_{RUN_TAG}_{run}_n{i}")
        t2 = time.perf_counter()
        await http.request("GET", "/health")
        health.append(time.perf_counter() - t2)
        over_http.append(t1 - t0)
        over_nats.append(t2 - t1)
    http_ms, nats_ms = statistics.median(over_http) * 1000, statistics.median(over_nats) * 1000
    return {
        "start_http_p50_ms": http_ms,
        "start_nats_p50_ms": nats_ms,
        "start_overhead_p50_ms": http_ms - nats_ms,
        "health_p50_ms": statistics.median(health) * 1000,
    }


async def sse_delay(nc: Client, url: str, run: int) -> dict[str, float]:
    client = RuntimeClient(nc)
    live: list[float] = []
    catch_up: list[float] = []
    for i in range(FOLLOWED):
        execution_id = f"exec_gw_sse_{RUN_TAG}_{run}_{i}"
        seen: dict[int, float] = {}

        async def on_event(msg: Msg, seen: dict[int, float] = seen) -> None:
            seen[HEAD_DECODER.decode(msg.data).sequence] = time.perf_counter()

        sub = await nc.subscribe(f"jamjet.events.default.{execution_id}", cb=on_event)
        http = await Connection.open(url, HEADERS)
        try:
            follower = asyncio.create_task(_follow(http, execution_id))
            await client.start("gated", execution_id=execution_id)
            parked = await _caught_up(http, seen)
            await client.signal(execution_id, "go")
            arrived = await asyncio.wait_for(follower, 60)
        finally:
            http.close()
            await sub.unsubscribe()
        for seq, at in arrived.items():
            if seq in seen:
                (catch_up if seq <= parked else live).append(at - seen[seq])
    return {
        "sse_delay_p50_ms": statistics.median(live) * 1000,
        "sse_catch_up_p50_ms": statistics.median(catch_up) * 1000,
    }


async def _caught_up(http: Connection, seen: dict[int, float]) -> int:
    """The last sequence before the signal, once the follower has every event so far and the bus has
    been quiet for QUIET_SECS (the execution is parked at its wait)."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        last = max(seen, default=0)
        if last and _followed(http) >= last and time.perf_counter() - seen[last] > QUIET_SECS:
            return last
        await asyncio.sleep(0.001)
    raise SystemExit("the SSE follower did not catch up")


def _followed(http: Connection) -> int:
    return max((int(line[4:]) for line, _ in http.current.lines if line.startswith(b"id: ")), default=0)


async def _follow(http: Connection, execution_id: str) -> dict[int, float]:
    """Sequence -> arrival time of every event of one SSE follow (retried until the execution exists)."""
    while True:
        answer = await http.request("GET", f"/executions/{execution_id}/events?follow=true")
        if answer.status != 404:
            return {int(line[4:]): at for line, at in answer.lines if line.startswith(b"id: ")}
        await asyncio.sleep(0.001)


async def measure_gateway(nc: Client, url: str, runs: int) -> dict[str, float]:
    results = []
    http = await Connection.open(url, HEADERS)
    try:
        await start_overhead(nc, http, -1)  # warm-up
        for run in range(runs):
            results.append(await start_overhead(nc, http, run) | await sse_delay(nc, url, run))
    finally:
        http.close()
    return {key: statistics.median(r[key] for r in results) for key in results[0]}
