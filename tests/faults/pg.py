"""A Postgres cluster of the test's own, which it may stop and start (initdb/pg_ctl in a temp dir).

Postgres refuses to run as root, so as root the cluster belongs to the ``postgres`` user and its
commands run through ``runuser``. The data directory lives directly under the system temp dir,
because pytest's own temp dirs are private to root.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jamjet_common.local.nats_server import free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"
OWNER = "postgres"
COMMAND_TIMEOUT = 60.0
SERVER_SETTINGS = ("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")


class PostgresUnavailableError(RuntimeError):
    """No Postgres cluster of our own can be made here; the message says why."""


def find_bindir() -> Path:
    """The bin dir of the newest Postgres with initdb and pg_ctl, else raise saying what is missing."""
    candidates = sorted(glob.glob(BIN_GLOB), key=_version_key, reverse=True)
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise PostgresUnavailableError(
        f"no initdb and pg_ctl under {BIN_GLOB} (found: {candidates or 'nothing'})"
    )


def _version_key(path: str) -> float:
    version = Path(path).parent.name
    try:
        return float(version)
    except ValueError:
        return 0.0


def _run_as() -> list[str]:
    """The prefix that runs a command as a user Postgres accepts."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError(
            "running as root and runuser is missing, so Postgres cannot be started"
        )
    try:
        pwd.getpwnam(OWNER)
    except KeyError:
        raise PostgresUnavailableError(
            f"running as root and there is no '{OWNER}' user to run Postgres"
        ) from None
    return [runuser, "-u", OWNER, "--"]


@dataclass(slots=True)
class OwnPostgres:
    bindir: Path
    root: Path
    port: int
    prefix: list[str]

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    async def create(cls) -> OwnPostgres:
        """initdb a new cluster (trust auth) on a free port and start it."""
        bindir, prefix = find_bindir(), _run_as()
        root = Path(tempfile.mkdtemp(prefix="jamjet-faults-pg-"))
        server = cls(bindir, root, free_port(), prefix)
        try:
            server._own_root()
            await server._pg(
                "initdb", "-D", str(server.datadir), "-U", "postgres", "-A", "trust", "--no-sync"
            )
            await server.start()
        except BaseException:
            server.remove()
            raise
        return server

    def _own_root(self) -> None:
        if self.prefix:
            entry = pwd.getpwnam(OWNER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    async def start(self) -> None:
        options = " ".join(("-p", str(self.port), "-k", str(self.root), *SERVER_SETTINGS))
        await self._pg(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "start"
        )

    async def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients and shuts down cleanly; ``immediate`` is a crash."""
        await self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    async def close(self) -> None:
        with contextlib.suppress(PostgresUnavailableError, TimeoutError):
            await self.stop("immediate")
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        if not self.logfile.exists():
            return ""
        return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])

    async def _pg(self, program: str, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            str(self.bindir / program),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
        if proc.returncode != 0:
            text = output.decode(errors="replace")
            raise PostgresUnavailableError(f"{program} {' '.join(args)} failed ({proc.returncode}):\n{text}")
