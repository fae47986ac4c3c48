"""``make run`` (the dev stack) takes nats-server and the four services with it however it ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jamjet_common.local.nats_server import free_port
from tests.faults.procs import REPO_ROOT, base_env
from tests.helpers import eventually
from tests.lifecycle.conftest import GRACE_SECS

DEMO_SECS = 120.0
"""Starting nats-server and four services and running the demo, on a loaded machine."""
GONE_SECS = GRACE_SECS + 20.0
NEXT_STEPS = ("your own workflow: NATS_URL=nats://", "logs: ", "stop: Ctrl-C")
ENDINGS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL", "closed pipe"]


class DevStack:
    """``python -m services.devstack`` in its own session, its output on a pipe the test can close."""

    def __init__(self, proc: asyncio.subprocess.Process, output: asyncio.StreamReader) -> None:
        self.proc = proc
        self.output = output
        self.pipe: asyncio.ReadTransport | None = None
        self.lines: list[str] = []

    async def read_until(self, prefix: str) -> None:
        async with asyncio.timeout(DEMO_SECS):
            while not any(line.startswith(prefix) for line in self.lines):
                line = await self.output.readline()
                assert line, "the dev stack closed its output:\n" + "".join(self.lines)
                self.lines.append(line.decode(errors="replace"))

    def children(self) -> set[int]:
        tasks = Path(f"/proc/{self.proc.pid}/task")
        return {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}


@pytest.fixture
async def devstack(tmp_path: Path, database_url: str) -> AsyncIterator[DevStack]:
    env = base_env(
        "",
        database_url,
        JAMJET_DEV_DIR=str(tmp_path / "devstack"),
        JAMJET_NATS_PORT=str(free_port()),
        JAMJET_GATEWAY_PORT=str(free_port()),
        JAMJET_SHUTDOWN_GRACE_SECS=str(GRACE_SECS),
    )
    read_end, write_end = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.devstack",
        env=env,
        cwd=REPO_ROOT,
        stdout=write_end,
        stderr=write_end,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_end)
    output = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    stack = DevStack(proc, output)
    stack.pipe, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(output), os.fdopen(read_end, "rb")
    )
    children: set[int] = set()
    try:
        yield stack
    finally:
        children = stack.children() if proc.returncode is None else set()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stack.pipe.close()
        for pid in children:
            _kill(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("ending", ENDINGS)
async def test_the_dev_stack_takes_its_children_with_it(devstack: DevStack, ending: str) -> None:
    await devstack.read_until("stop: ")
    text = "".join(devstack.lines)
    for step in NEXT_STEPS:
        assert step in text, f"the demo's next steps lack {step!r}:\n{text}"
    children = devstack.children()
    assert len(children) == 6, f"expected nats-server and five services, found {children}"
    if ending == "closed pipe":  # `make run | tee run.log`, Ctrl-C: tee is gone too
        assert devstack.pipe is not None
        devstack.pipe.close()
    signum = signal.SIGINT if ending == "closed pipe" else signal.Signals[ending]
    devstack.proc.send_signal(signum)
    await eventually(
        lambda: not any(alive(pid) for pid in children),
        timeout=GONE_SECS,
        message=f"children of the dev stack outlived its {ending}",
    )
    code = await asyncio.wait_for(devstack.proc.wait(), GONE_SECS)
    assert code == (-signal.SIGKILL if ending == "SIGKILL" else 0)
