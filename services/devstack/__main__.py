"""`make run`: the whole runtime on this machine, a demo workflow run, its events printed live."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from jamjet_common.subjects import new_execution_id
from services.devstack import demo
from services.devstack.stack import ServiceProcesses, dev_database, service_env, start_nats

STATE_DIR = Path(os.environ.get("JAMJET_DEV_DIR", ".devstack"))


async def request(nc: Client, subject: str, body: Mapping[str, object]) -> dict[str, object]:
    for _ in range(60):
        try:
            reply = await nc.request(subject, json.dumps(body).encode(), timeout=2)
        except (TimeoutError, NoRespondersError):
            await asyncio.sleep(1)  # the scheduler is still starting
            continue
        answer: dict[str, object] = json.loads(reply.data)
        if not answer.get("ok"):
            raise SystemExit(f"{subject} failed: {answer}")
        return answer
    raise SystemExit(f"no answer on {subject} after 2 minutes; see the logs in {STATE_DIR / 'logs'}")


class EventPrinter:
    """Prints the demo execution's events; those that arrive before its id is known wait."""

    def __init__(self) -> None:
        self.execution_id: str | None = None
        self._early: list[Msg] = []

    async def on_msg(self, msg: Msg) -> None:
        if self.execution_id is None:
            self._early.append(msg)
        elif msg.subject.endswith("." + self.execution_id):
            print_event(msg)

    def follow(self, execution_id: str) -> None:
        self.execution_id = execution_id
        for msg in self._early:
            if msg.subject.endswith("." + execution_id):
                print_event(msg)
        self._early.clear()


def print_event(msg: Msg) -> None:
    event = json.loads(msg.data)
    kind = dict(event["kind"])
    tag = kind.pop("type")
    detail = json.dumps(kind, separators=(",", ":"))
    print(f"  #{event['sequence']:<3} {tag:<20} {detail[:140]}", flush=True)


async def run_demo(nc: Client) -> str:
    registered = await request(nc, "jamjet.cmd.workflows.register", {"ir": demo.workflow_ir()})
    print(f"registered workflow {registered['workflow_id']} {registered['version']}")
    # A client-chosen id makes the retried start idempotent.
    body = {"workflow_id": demo.WORKFLOW_ID, "input": demo.DEMO_INPUT, "execution_id": new_execution_id()}
    started = await request(nc, "jamjet.cmd.executions.start", body)
    return str(started["execution_id"])


async def main() -> None:
    await asyncio.to_thread(STATE_DIR.mkdir, exist_ok=True)
    server = start_nats(STATE_DIR / "nats")
    print(f"nats-server {server.url} (store {STATE_DIR / 'nats'})")
    database_url, how = await dev_database(os.environ)
    print(f"Postgres: {how}")
    services = ServiceProcesses(service_env(server.url, database_url), STATE_DIR / "logs")
    await services.start()
    print(f"services: {', '.join(services.procs)} (logs in {STATE_DIR / 'logs'})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    nc = await nats.connect(server.url, name="devstack")
    try:
        await watch(nc, stop, services)
    finally:
        if not nc.is_closed:
            await nc.drain()
        print("\nstopping services...")
        await services.stop()
        server.close()


async def watch(nc: Client, stop: asyncio.Event, services: ServiceProcesses) -> None:
    printer = EventPrinter()
    await nc.subscribe("jamjet.events.>", cb=printer.on_msg)
    printer.follow(await run_demo(nc))
    print(f"started execution {printer.execution_id}; its events, live (Ctrl-C to stop):")
    stopped = asyncio.ensure_future(stop.wait())
    crashed = asyncio.ensure_future(services.first_exit())
    await asyncio.wait({stopped, crashed}, return_when=asyncio.FIRST_COMPLETED)
    if crashed.done():
        print(f"service {crashed.result()} exited; see {STATE_DIR / 'logs'}", file=sys.stderr)
    stopped.cancel()
    crashed.cancel()


def main_sync() -> None:
    print("JamJet dev stack: Ctrl-C stops everything")
    asyncio.run(main())


if __name__ == "__main__":
    main_sync()
