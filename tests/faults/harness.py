"""The fault-injection harness: a real nats-server and the four services as OS processes.

A scenario starts executions of the workflow mix, injects faults (SIGKILL/SIGTERM of a service,
a nats-server restart, Postgres stopped), waits until every execution is terminal, gathers what the
system left behind and checks the invariants. Settings are short so that faults resolve fast: a 3 s
lease, a 5 s grace period, 5 s ack waits for the scheduler's and the event store's consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client

from jamjet_client import Unavailable
from jamjet_common import subjects
from jamjet_common.local.nats_server import LocalNatsServer
from tests.faults.collect import Collector
from tests.faults.invariants import Check, check_all
from tests.faults.observations import Observations
from tests.faults.pg import OwnPostgres
from tests.faults.procs import ProcessSpec, ServiceProcesses, base_env
from tests.faults.report import ScenarioReport
from tests.faults.watch import Watcher
from tests.faults.workflows import Planned, all_workflows
from tests.helpers import ask as runtime_request

LEASE_SECS = 3.0
GRACE_SECS = 5.0
SETTINGS = {
    "JAMJET_LEASE_SECS": f"{LEASE_SECS:g}",
    "JAMJET_SHUTDOWN_GRACE_SECS": f"{GRACE_SECS:g}",
    "JAMJET_SCHEDULER_ACK_WAIT_SECS": "5",
    "JAMJET_SCHEDULER_LEASE_SECS": f"{LEASE_SECS:g}",
    "JAMJET_STORE_ACK_WAIT_SECS": "5",
    "JAMJET_LOG_LEVEL": "INFO",
    "JAMJET_PYTHON_ALLOWED_MODULES": "tests",
}
FIRST = ProcessSpec("event_store", "services.event_store")
"""Started alone first: it provisions the streams before the others race to."""
OTHERS = (
    ProcessSpec("policy", "services.policy"),
    ProcessSpec("scheduler", "services.scheduler"),
    ProcessSpec("worker1", "services.worker"),
    ProcessSpec("worker2", "services.worker"),
)
WORKERS = ("worker1", "worker2")
REQUEST_TIMEOUT = 5.0
START_DEADLINE = 90.0
SETTLE_SECS = 60.0
DRAIN_SECS = 4 * LEASE_SECS + 5
_REQUEST_ERRORS = (TimeoutError, nats.errors.Error, Unavailable)  # the client: no answer, no responder


class FaultHarness:
    def __init__(
        self,
        report: ScenarioReport,
        nats: LocalNatsServer,
        nc: Client,
        database_url: str,
        log_dir: Path,
        postgres: OwnPostgres | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.report = report
        self.nats = nats
        self.nc = nc
        self.js = nc.jetstream(timeout=10)
        self.database_url = database_url
        self.postgres = postgres
        env = base_env(nats.url, database_url, **{**SETTINGS, **(settings or {})})
        self.procs = ServiceProcesses(env, log_dir, [FIRST, *OTHERS])
        self.watch = Watcher(self.js)
        self.workflows = all_workflows()
        self.planned: dict[str, Planned] = {}

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.procs.start_ready(FIRST.name)
        for spec in OTHERS:
            await self.procs.start(spec.name)
        for spec in OTHERS:
            await self.procs.wait_ready(spec.name)
        await self.watch.start()
        for ir in self.workflows.values():
            await self.ask(subjects.CMD_REGISTER, {"ir": ir})

    async def close(self) -> None:
        try:
            await self.procs.stop_all()
        finally:
            await self.watch.stop()

    def tails(self) -> str:
        text = self.procs.tails()
        if self.postgres is not None:
            text += f"\n---- postgres ({self.postgres.logfile}) ----\n{self.postgres.log_tail()}"
        return text

    # ---- driving executions --------------------------------------------------------------------------

    async def ask(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await runtime_request(self.nc, subject, body, timeout=REQUEST_TIMEOUT)
        if not answer.get("ok"):
            raise AssertionError(f"{subject} {body} was refused: {answer}")
        return answer

    async def start_execution(self, planned: Planned) -> None:
        """Start it, asking again (same id: idempotent) while the scheduler or NATS is away."""
        body = {
            "workflow_id": planned.workflow_id,
            "input": planned.input,
            "execution_id": planned.execution_id,
        }
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                await self.ask(subjects.CMD_START, body)
                return
            except _REQUEST_ERRORS:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def drive(self, planned: list[Planned], per_second: float) -> None:
        """Start ``planned`` at a steady rate; returns once every start was answered."""
        self.planned.update((p.execution_id, p) for p in planned)
        self.report.executions += len(planned)
        self.report.labels.update(p.label for p in planned)
        starts = []
        for execution in planned:
            starts.append(asyncio.create_task(self.start_execution(execution)))
            await asyncio.sleep(1 / per_second)
        await asyncio.gather(*starts)

    def terminal(self) -> int:
        return sum(1 for e in self.planned if e in self.watch.terminal)

    def progress(self) -> float:
        """Fraction of the planned executions that are terminal."""
        return self.terminal() / max(len(self.planned), 1)

    async def reach(self, fraction: float, timeout: float = 60.0) -> bool:
        """Wait until ``fraction`` of the planned executions are terminal."""
        return await self.until(lambda: self.progress() >= fraction, timeout)

    def mid_run(self) -> bool:
        return 0 < self.terminal() < len(self.planned)

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # ---- faults ------------------------------------------------------------------------------------------

    async def kill_mid_node(self, name: str, wait: float) -> int:
        """SIGKILL ``name`` as soon as it runs a node (or after ``wait`` seconds); nodes it was running."""
        worker_id = self.procs.instance_id(name)
        await self.until(lambda: self.watch.in_flight(worker_id) > 0, wait)
        running = self.watch.in_flight(worker_id)
        await self.procs.kill(name)
        self.report.fault(f"SIGKILL {worker_id} with {running} node(s) in flight")
        return running

    async def kill(self, name: str) -> None:
        worker_id = self.procs.instance_id(name)
        await self.procs.kill(name)
        self.report.fault(f"SIGKILL {worker_id} ({self.terminal()}/{len(self.planned)} terminal)")

    async def start_service(self, name: str) -> None:
        instance_id = await self.procs.start_ready(name)
        self.report.note(f"{instance_id} started")

    async def term(self, name: str, timeout: float) -> tuple[int | None, float, int]:
        """SIGTERM ``name``; its exit code, seconds to exit, and nodes it was running at the signal."""
        worker_id = self.procs.instance_id(name)
        running = self.watch.in_flight(worker_id)
        began = time.monotonic()
        code = await self.procs.term(name, timeout)
        took = time.monotonic() - began
        self.report.fault(
            f"SIGTERM {worker_id} with {running} node(s) in flight: exit {code} after {took:.1f}s"
        )
        return code, took, running

    async def restart_nats(self, *, hard: bool, down_secs: float) -> None:
        how = "SIGKILL" if hard else "SIGTERM"
        await (self.nats.akill() if hard else self.nats.astop())
        self.report.fault(f"nats-server {how}, down for {down_secs:g}s ({self.terminal()} terminal)")
        await asyncio.sleep(down_secs)
        await self.nats.astart()
        self.report.note("nats-server restarted")

    async def pause_postgres(self, down_secs: float, mode: str) -> None:
        assert self.postgres is not None, "this harness has no Postgres of its own"
        await self.postgres.stop(mode)
        self.report.fault(f"Postgres stopped ({mode}) for {down_secs:g}s ({self.terminal()} terminal)")
        await asyncio.sleep(down_secs)
        await self.postgres.start()
        self.report.note("Postgres started again")

    # ---- judging -----------------------------------------------------------------------------------------

    async def finish(self, timeout: float) -> ScenarioReport:
        """Wait for every execution to be terminal, check the invariants, emit the report."""
        if not await self.until(lambda: self.terminal() == len(self.planned), timeout):
            self.report.note(
                f"{len(self.planned) - self.terminal()} executions not terminal after {timeout:g}s"
            )
        else:
            self.report.note("all executions terminal")
        obs = await self.observe()
        self.report.checks.extend(check_all(obs))
        return self.report

    async def observe(self) -> Observations:
        problem = await self.watch.complete()
        by_execution = self.watch.by_execution()
        stream = {e: by_execution.get(e, []) for e in self.planned}
        obs = Observations(self.planned, self.workflows, stream, problem)
        collector = Collector(self.js, self.database_url, SETTLE_SECS, DRAIN_SECS)
        return await collector.observe(obs)

    def add_check(self, check: Check) -> None:
        self.report.checks.append(check)

    def verdict(self) -> None:
        """Emit the report; on a failed invariant print the services' log tails and fail the test."""
        self.report.emit()
        if self.report.failed:
            print(self.tails())
            failed = ", ".join(f"{c.key} {c.title}" for c in self.report.failed)
            raise AssertionError(f"scenario {self.report.name}: invariants failed: {failed}")


@contextlib.asynccontextmanager
async def open_harness(
    report: ScenarioReport,
    nats: LocalNatsServer,
    nc: Client,
    database_url: str,
    log_dir: Path,
    postgres: OwnPostgres | None = None,
    settings: Mapping[str, str] | None = None,
) -> AsyncIterator[FaultHarness]:
    """A started harness; ``settings``: environment variables of every service on top of ``SETTINGS``."""
    harness = FaultHarness(report, nats, nc, database_url, log_dir, postgres, settings)
    try:
        try:
            await harness.start()
        except BaseException:
            print(harness.tails())
            raise
        yield harness
    finally:
        await harness.close()
