"""The four services running in the test's event loop, plus a recorder of jamjet.events.>."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common.config import Env
from jamjet_common.service import Service
from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.harness import running, service_env
from tests.helpers import ask as runtime_request
from tests.helpers import eventually

CONNECT_TIMEOUT_SECS = 5.0

TERMINAL = {"workflow_completed", "workflow_failed", "workflow_cancelled"}


@dataclass
class Recorder:
    """Every event seen by a plain subscriber to jamjet.events.>, by execution."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    terminal: dict[str, str] = field(default_factory=dict)

    async def on_msg(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        self.events[event["execution_id"]].append(event)
        if event["kind"]["type"] in TERMINAL:
            self.terminal[event["execution_id"]] = event["kind"]["type"]

    def kinds(self, execution_id: str) -> list[str]:
        return [e["kind"]["type"] for e in self.events[execution_id]]


@dataclass
class Stack:
    nc: Client
    nats_url: str
    database_url: str
    recorder: Recorder

    def env(self, **extra: str) -> Env:
        return Env(service_env(self.nats_url, self.database_url, **extra))

    async def ask(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await runtime_request(self.nc, subject, body, timeout=30)
        assert answer.get("ok"), answer
        return answer

    async def register(self, ir: dict[str, Any]) -> None:
        await self.ask("jamjet.cmd.workflows.register", {"ir": ir})

    async def start(self, workflow_id: str, data: dict[str, Any] | None = None, **extra: Any) -> str:
        body = {"workflow_id": workflow_id, "input": data or {}, **extra}
        return str((await self.ask("jamjet.cmd.executions.start", body))["execution_id"])

    async def all_terminal(self, execution_ids: list[str], timeout: float = 60) -> None:
        await eventually(
            lambda: all(e in self.recorder.terminal for e in execution_ids),
            timeout=timeout,
            message=f"{sum(e not in self.recorder.terminal for e in execution_ids)} executions not terminal",
        )

    async def stored(self, execution_ids: list[str]) -> dict[str, list[tuple[int, str]]]:
        # A short connect timeout: it is polled, and asyncpg's default (60 s) let one connect that hung
        # under CI load use up the whole wait (seen twice: "waited 60s; last exception: TimeoutError()").
        conn = await asyncpg.connect(self.database_url, timeout=CONNECT_TIMEOUT_SECS)
        try:
            rows = await conn.fetch(
                "SELECT execution_id, sequence, event_id::text AS id FROM events "
                "WHERE execution_id = ANY($1::text[]) ORDER BY execution_id, sequence",
                execution_ids,
            )
        finally:
            await conn.close()
        out: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for row in rows:
            out[row["execution_id"]].append((row["sequence"], row["id"]))
        return out

    def seen(self, execution_id: str) -> list[tuple[int, str]]:
        return [(e["sequence"], e["id"]) for e in self.recorder.events[execution_id]]

    async def postgres_matches_stream(self, execution_ids: list[str], timeout: float = 60) -> None:
        async def same() -> Differences:
            stored = await self.stored(execution_ids)
            return Differences(
                {
                    e: (len(stored.get(e, [])), len(self.seen(e)))
                    for e in execution_ids
                    if stored.get(e) != self.seen(e)
                }
            )

        await eventually(same, timeout=timeout, message="Postgres differs from the events seen on the bus")


@dataclass
class Differences:
    """Executions whose stored events differ from those seen: (stored, seen) counts. True when none."""

    counts: dict[str, tuple[int, int]]

    def __bool__(self) -> bool:
        return not self.counts

    def __repr__(self) -> str:
        shown = dict(list(self.counts.items())[:5])
        return f"{len(self.counts)} differ, (stored, seen) events: {shown}"


def assert_gapless(stack: Stack, execution_ids: list[str]) -> None:
    for execution_id in execution_ids:
        sequences = [seq for seq, _ in stack.seen(execution_id)]
        assert sequences == list(range(1, len(sequences) + 1)), (execution_id, sequences)
        ids = [event_id for _, event_id in stack.seen(execution_id)]
        assert len(set(ids)) == len(ids)


@contextlib.asynccontextmanager
async def services(stack: Stack, *, workers: int = 1, **extra: str) -> AsyncIterator[list[Service]]:
    env = stack.env(**extra)
    built: list[Service] = [EventStoreService.from_env(env), PolicyService.from_env(env)]
    built += [SchedulerService.from_env(env)]
    built += [
        WorkerService.from_env(stack.env(JAMJET_INSTANCE_ID=f"worker-{i}", **extra)) for i in range(workers)
    ]
    async with running_all(built):
        yield built


@contextlib.asynccontextmanager
async def running_all(built: list[Service]) -> AsyncIterator[None]:
    """Run ``built`` (the event store first) until the block ends, once the store's schema is migrated."""
    async with contextlib.AsyncExitStack() as stack_ctx:
        for service in built:
            await stack_ctx.enter_async_context(running(service))
        # Queries (tenant usage, executions) need the store's schema: wait until it is migrated.
        store = built[0]
        assert isinstance(store, EventStoreService)
        await asyncio.wait_for(store.db.ready.wait(), timeout=30)
        yield
