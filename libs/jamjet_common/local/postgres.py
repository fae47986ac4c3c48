"""Find a Postgres for the dev stack and tests; create and drop scratch databases."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

logger = logging.getLogger(__name__)

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PROBE_TIMEOUT = 2.0
NO_POSTGRES_HELP = (
    "no Postgres found. Either set DATABASE_URL, start Postgres on 127.0.0.1:5432 "
    "(user postgres, trust auth or a password in the URL), or `pip install pgserver` "
    "(the project's `embedded-postgres` extra) for an embedded one"
)
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PROBE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresUnavailableError(RuntimeError):
    """No Postgres could be found or started."""


async def resolve_database_url(env: Mapping[str, str]) -> tuple[str, str]:
    """Return (url, how it was found): DATABASE_URL, else local 5432 if it answers, else pgserver."""
    if url := env.get("DATABASE_URL"):
        return url, "DATABASE_URL"
    if await probe(LOCAL_DATABASE_URL):
        return LOCAL_DATABASE_URL, "local Postgres on 127.0.0.1:5432"
    return await _start_embedded(env)


async def probe(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a connection to `url` (TCP connect, startup, auth) and `SELECT 1` succeed in time."""
    try:
        async with asyncio.timeout(timeout):
            await _select_one(url)
    except _PROBE_ERRORS as exc:
        logger.debug("no Postgres at %s: %r", redact(url), exc)
        return False
    return True


async def create_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url`; return its URL (same server and user)."""
    statement = f"CREATE DATABASE {_quoted(name)}"
    await _execute(admin_url, statement)
    logger.info("created database %s", name)
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions (Postgres >= 13)."""
    await _execute(admin_url, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    logger.info("dropped database %s", name)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (path replaced; `database`/`dbname` query keys removed)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in ("database", "dbname")]
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query)))


def redact(url: str) -> str:
    """`url` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _quoted(name: str) -> str:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: expected [a-z_][a-z0-9_]{{0,62}}")
    return f'"{name}"'


async def _select_one(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def _execute(url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run in a transaction block; a bare execute() without arguments
    # uses the simple query protocol, outside any transaction.
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _start_embedded(env: Mapping[str, str]) -> tuple[str, str]:
    try:
        import pgserver
    except ImportError as exc:
        raise PostgresUnavailableError(NO_POSTGRES_HELP) from exc
    pgdata = _embedded_data_dir(env)
    pgdata.mkdir(parents=True, exist_ok=True)
    logger.info("starting embedded Postgres (pgserver) in %s", pgdata)
    server = await asyncio.to_thread(pgserver.get_server, pgdata)
    return str(server.get_uri()), f"embedded Postgres (pgserver) in {pgdata}"


def _embedded_data_dir(env: Mapping[str, str]) -> Path:
    if explicit := env.get("JAMJET_PGDATA"):
        return Path(explicit)
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "jamjet" / "pgdata"
