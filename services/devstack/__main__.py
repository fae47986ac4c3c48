"""`make run`: the whole runtime on this machine, a demo workflow run, its events printed live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import nats
from nats.aio.client import Client

from jamjet_client import RequestError, RuntimeClient
from jamjet_common.codec import to_builtins
from jamjet_common.events import Event
from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.subjects import new_execution_id
from services.devstack import demo
from services.devstack.stack import ServiceProcesses, dev_database, gateway_url, service_env, start_nats

STATE_DIR = Path(os.environ.get("JAMJET_DEV_DIR", ".devstack"))
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CLOSE_SECS = 5.0
REQUEST_SECS = 10.0
STARTUP_SECS = 120.0
LOGS = STATE_DIR / "logs"


class DemoError(RuntimeError):
    """The demo could not run; the dev stack stops (everything it started) and says why."""


async def answered[T](call: Callable[[], Awaitable[T]], what: str) -> T:
    """The call's answer, asked again while the services are still starting (no answer yet, busy)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECS
    while True:
        try:
            return await call()
        except RequestError as exc:
            if not exc.retryable:
                raise DemoError(f"{what} failed: {exc.code}: {exc}") from None
            if loop.time() >= deadline:
                raise DemoError(f"{what}: no answer in {STARTUP_SECS:g}s ({exc}); see {LOGS}") from None
        await asyncio.sleep(1)


def print_event(event: Event) -> None:
    kind = to_builtins(event.kind)
    tag = str(kind.pop("type"))
    detail = json.dumps(kind, separators=(",", ":"))
    say(f"  #{event.sequence:<3} {tag:<20} {detail[:140]}")


def say(line: str = "", *, file: TextIO | None = None) -> None:
    """Print a line; a closed pipe (``make run | tee``, tee gone) stops the dev stack, never crashes it."""
    out = file or sys.stdout
    try:
        print(line, file=out, flush=True)
    except BrokenPipeError:
        # Nobody reads any more: further output goes nowhere, and the stack stops.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        os.kill(os.getpid(), signal.SIGTERM)


async def run_demo(client: RuntimeClient) -> str:
    registered = await answered(lambda: client.register(demo.workflow_ir()), "registering the demo")
    say(f"registered workflow {registered.workflow_id} {registered.version}")
    # A client-chosen id makes the retried start idempotent.
    execution_id = new_execution_id()
    started = await answered(
        lambda: client.start(
            demo.WORKFLOW_ID, demo.DEMO_INPUT, execution_id=execution_id, deadline_secs=REQUEST_SECS
        ),
        "starting the demo",
    )
    return started.execution_id


async def show_events(client: RuntimeClient, execution_id: str) -> None:
    """Print the execution's events, live, until its terminal one."""
    async for event in client.events(execution_id):
        print_event(event)


@dataclass(slots=True)
class DevStack:
    """What the dev stack started, so that however it ends, everything it started is stopped."""

    server: LocalNatsServer | None = None
    services: ServiceProcesses | None = None
    nc: Client | None = None

    async def run(self, stop: asyncio.Event) -> None:
        # From the loop's thread, which lives as long as the process: the children's death signal.
        self.server = start_nats(STATE_DIR / "nats")
        say(f"nats-server {self.server.url} (store {STATE_DIR / 'nats'})")
        database_url, how = await dev_database(os.environ)
        say(f"Postgres: {how}")
        env = service_env(self.server.url, database_url)
        self.services = ServiceProcesses(env, STATE_DIR / "logs")
        await self.services.start()
        say(f"services: {', '.join(self.services.procs)} (logs in {STATE_DIR / 'logs'})")
        self.nc = await nats.connect(self.server.url, name="devstack")
        await watch(self.nc, self.server.url, stop, self.services)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), CLOSE_SECS)
        if self.services is not None:
            say("\nstopping services...")
            await self.services.stop()
        if self.server is not None:
            self.server.close()


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    await asyncio.to_thread(STATE_DIR.mkdir, exist_ok=True)
    stack = DevStack()
    running = asyncio.ensure_future(stack.run(stop))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        running.cancel()
        await asyncio.wait({running}, timeout=CLOSE_SECS)
        await stack.close()
    if running.done() and not running.cancelled():
        running.result()  # a failure to start is reported, after the cleanup


async def watch(nc: Client, nats_url: str, stop: asyncio.Event, services: ServiceProcesses) -> None:
    client = RuntimeClient(nc, timeout=REQUEST_SECS)
    execution_id = await run_demo(client)
    say(f"started execution {execution_id}; its events, live (Ctrl-C to stop):")
    stopped = asyncio.ensure_future(stop.wait())
    crashed = asyncio.ensure_future(services.first_exit())
    finished = asyncio.ensure_future(show_events(client, execution_id))
    await asyncio.wait({stopped, crashed, finished}, return_when=asyncio.FIRST_COMPLETED)
    if finished.done():
        finished.result()  # following the events failed: say so
        say(next_steps(nats_url, services.env))
        await asyncio.wait({stopped, crashed}, return_when=asyncio.FIRST_COMPLETED)
    if crashed.done():
        say(f"service {crashed.result()} exited; see {STATE_DIR / 'logs'}", file=sys.stderr)
    for task in (stopped, crashed, finished):
        task.cancel()


def next_steps(nats_url: str, env: Mapping[str, str]) -> str:
    """The three lines a new user needs once the demo ran."""
    http = f"JAMJET_TOKEN={env['JAMJET_GATEWAY_DEV_TOKEN']} jamjet --runtime {gateway_url(env)}"
    return "\n".join(
        [
            f"\nyour own workflow: NATS_URL={nats_url}; register its IR on jamjet.cmd.workflows.register,"
            " start it on jamjet.cmd.executions.start (README: Using it from any NATS client);"
            f" or over HTTP with the jamjet SDK and CLI: {http} ...",
            f"logs: {STATE_DIR / 'logs'}/<service>.log (event_store, policy, scheduler, worker, gateway)",
            f"stop: Ctrl-C here, or kill {os.getpid()}; nats-server and the services stop with it",
        ]
    )


def main_sync() -> None:
    # Until the event loop handles them, a stop signal ends the process the way Ctrl-C would.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            say("JamJet dev stack: Ctrl-C stops everything")
            asyncio.run(main())
    except DemoError as exc:
        raise SystemExit(str(exc)) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main_sync()
