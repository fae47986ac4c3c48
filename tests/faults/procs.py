"""The runtime's services as separate OS processes that a test can kill, terminate and restart.

Each named process (``scheduler``, ``worker1``...) runs ``python -m services.<module>`` in its own
session with its output appended to ``<log_dir>/<name>.log``. Every incarnation gets its own
``JAMJET_INSTANCE_ID`` (``<name>-<n>``), so events and logs tell a restarted worker from its
predecessor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD = "tests.faults.child"
"""Runs the service module and dies with the test process."""
READY_TIMEOUT = 30.0
TAIL_LINES = 40


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str
    module: str
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Running:
    spec: ProcessSpec
    instance_id: str
    proc: asyncio.subprocess.Process
    log_offset: int


def base_env(nats_url: str, database_url: str, **settings: str) -> dict[str, str]:
    """The parent's environment with the test's NATS and database and the repo on PYTHONPATH."""
    env = dict(os.environ)
    paths = (str(REPO_ROOT), str(REPO_ROOT / "libs"), env.get("PYTHONPATH", ""))
    env.update(
        NATS_URL=nats_url, DATABASE_URL=database_url, PYTHONPATH=os.pathsep.join(p for p in paths if p)
    )
    env.update(settings)
    return env


class ServiceProcesses:
    """Named service processes; at most one incarnation of each runs at a time."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, specs: list[ProcessSpec]) -> None:
        self._env = dict(env)
        self.log_dir = log_dir
        self._specs = {spec.name: spec for spec in specs}
        self._running: dict[str, Running] = {}
        self._incarnations: dict[str, int] = dict.fromkeys(self._specs, 0)

    def add(self, spec: ProcessSpec) -> None:
        """Another named process, e.g. a second replica of a service."""
        self._specs[spec.name] = spec
        self._incarnations.setdefault(spec.name, 0)

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def instance_id(self, name: str) -> str:
        """The instance id of the current (or last) incarnation of ``name``."""
        return f"{name}-{max(self._incarnations[name] - 1, 0)}"

    def is_running(self, name: str) -> bool:
        running = self._running.get(name)
        return running is not None and running.proc.returncode is None

    async def start(self, name: str) -> str:
        """Start a new incarnation of ``name``; returns its instance id (not yet ready)."""
        if self.is_running(name):
            raise RuntimeError(f"{name} is already running")
        spec = self._specs[name]
        instance_id = f"{name}-{self._incarnations[name]}"
        self._incarnations[name] += 1
        env = {**self._env, **spec.env, "JAMJET_INSTANCE_ID": instance_id}
        self._running[name] = await self._spawn(spec, instance_id, env)
        return instance_id

    async def _spawn(self, spec: ProcessSpec, instance_id: str, env: dict[str, str]) -> Running:
        path = self.log_path(spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} starting {instance_id} ====\n".encode())
            log.flush()
            offset = log.tell()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                CHILD,
                spec.module,
                str(os.getpid()),
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals meant for pytest never reach the services
            )
        return Running(spec, instance_id, proc, offset)

    async def wait_ready(self, name: str, timeout: float = READY_TIMEOUT) -> None:
        """Wait for the incarnation's "<instance> started" log line; fail if it exits first."""
        running = self._running[name]
        marker = f"{running.instance_id} started".encode()
        deadline = time.monotonic() + timeout
        while marker not in self._read_log(running):
            if running.proc.returncode is not None:
                raise RuntimeError(
                    f"{running.instance_id} exited with {running.proc.returncode}:\n{self.tail(name)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{running.instance_id} not ready after {timeout:g}s:\n{self.tail(name)}")
            await asyncio.sleep(0.05)

    def _read_log(self, running: Running) -> bytes:
        with self.log_path(running.spec.name).open("rb") as log:
            log.seek(running.log_offset)
            return log.read()

    async def start_ready(self, name: str) -> str:
        instance_id = await self.start(name)
        await self.wait_ready(name)
        return instance_id

    async def kill(self, name: str) -> None:
        """SIGKILL, as a crash would."""
        await self._signal(name, signal.SIGKILL, timeout=10.0)

    async def term(self, name: str, timeout: float) -> int | None:
        """SIGTERM and wait up to ``timeout`` seconds; returns the exit code (None: still running)."""
        return await self._signal(name, signal.SIGTERM, timeout)

    async def restart(self, name: str) -> str:
        await self.kill(name)
        return await self.start_ready(name)

    async def _signal(self, name: str, signum: signal.Signals, timeout: float) -> int | None:
        running = self._running.get(name)
        if running is None or running.proc.returncode is not None:
            return None if running is None else running.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            running.proc.send_signal(signum)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.proc.wait(), timeout)
        return running.proc.returncode

    async def stop_all(self) -> None:
        """Kill every process; nothing of a test run is worth a graceful stop at teardown."""
        for name in list(self._running):
            await self.kill(name)

    def tail(self, name: str, lines: int = TAIL_LINES) -> str:
        path = self.log_path(name)
        if not path.exists():
            return f"({path} does not exist)"
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def tails(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(
            f"---- {name} ({self.log_path(name)}) ----\n{self.tail(name, lines)}" for name in self.names
        )

    def grep(self, name: str, needle: str) -> list[str]:
        path = self.log_path(name)
        if not path.exists():
            return []
        return [line for line in path.read_text(errors="replace").splitlines() if needle in line]
