"""`make run`: the whole runtime on this machine, a demo workflow run, its events printed live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.subjects import new_execution_id
from services.devstack import demo
from services.devstack.stack import ServiceProcesses, dev_database, gateway_url, service_env, start_nats

STATE_DIR = Path(os.environ.get("JAMJET_DEV_DIR", ".devstack"))
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TERMINAL_EVENTS = frozenset({"workflow_completed", "workflow_failed", "workflow_cancelled"})
CLOSE_SECS = 5.0


class DemoError(RuntimeError):
    """The demo could not run; the dev stack stops (everything it started) and says why."""


async def request(nc: Client, subject: str, body: Mapping[str, object]) -> dict[str, object]:
    for _ in range(60):
        try:
            reply = await nc.request(subject, json.dumps(body).encode(), timeout=2)
        except (TimeoutError, NoRespondersError):
            await asyncio.sleep(1)  # the scheduler is still starting
            continue
        answer: dict[str, object] = json.loads(reply.data)
        if not answer.get("ok"):
            raise DemoError(f"{subject} failed: {answer}")
        return answer
    raise DemoError(f"no answer on {subject} after 2 minutes; see the logs in {STATE_DIR / 'logs'}")


class EventPrinter:
    """Prints the demo execution's events; those that arrive before its id is known wait."""

    def __init__(self) -> None:
        self.execution_id: str | None = None
        self.finished = asyncio.Event()
        self._early: list[Msg] = []

    async def on_msg(self, msg: Msg) -> None:
        if self.execution_id is None:
            self._early.append(msg)
        elif msg.subject.endswith("." + self.execution_id):
            self._show(msg)

    def follow(self, execution_id: str) -> None:
        self.execution_id = execution_id
        for msg in self._early:
            if msg.subject.endswith("." + execution_id):
                self._show(msg)
        self._early.clear()

    def _show(self, msg: Msg) -> None:
        if print_event(msg) in TERMINAL_EVENTS:
            self.finished.set()


def print_event(msg: Msg) -> str:
    """Print one event line; return the event's type."""
    event = json.loads(msg.data)
    kind = dict(event["kind"])
    tag = str(kind.pop("type"))
    detail = json.dumps(kind, separators=(",", ":"))
    say(f"  #{event['sequence']:<3} {tag:<20} {detail[:140]}")
    return tag


def say(line: str = "", *, file: TextIO | None = None) -> None:
    """Print a line; a closed pipe (``make run | tee``, tee gone) stops the dev stack, never crashes it."""
    out = file or sys.stdout
    try:
        print(line, file=out, flush=True)
    except BrokenPipeError:
        # Nobody reads any more: further output goes nowhere, and the stack stops.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        os.kill(os.getpid(), signal.SIGTERM)


async def run_demo(nc: Client) -> str:
    registered = await request(nc, "jamjet.cmd.workflows.register", {"ir": demo.workflow_ir()})
    say(f"registered workflow {registered['workflow_id']} {registered['version']}")
    # A client-chosen id makes the retried start idempotent.
    body = {"workflow_id": demo.WORKFLOW_ID, "input": demo.DEMO_INPUT, "execution_id": new_execution_id()}
    started = await request(nc, "jamjet.cmd.executions.start", body)
    return str(started["execution_id"])


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
    printer = EventPrinter()
    await nc.subscribe("jamjet.events.>", cb=printer.on_msg)
    printer.follow(await run_demo(nc))
    say(f"started execution {printer.execution_id}; its events, live (Ctrl-C to stop):")
    stopped = asyncio.ensure_future(stop.wait())
    crashed = asyncio.ensure_future(services.first_exit())
    finished = asyncio.ensure_future(printer.finished.wait())
    await asyncio.wait({stopped, crashed, finished}, return_when=asyncio.FIRST_COMPLETED)
    if finished.done():
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
