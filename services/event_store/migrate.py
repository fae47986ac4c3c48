"""Versioned SQL migrations, applied once each, safely when several replicas start at the same time.

Migrations are the package's ``migrations/NNNN_<name>.sql`` files, applied in version order, each in
its own transaction together with its ``schema_migrations`` row. A session advisory lock serialises
replicas: the second one waits, then finds nothing left to do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

logger = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "services.event_store"
MIGRATIONS_DIR = "migrations"
LOCK_KEY = 0x6A616D6A65740001
"""Advisory lock key of the migration runner ("jamjet" + 1); other lock users pick other keys."""
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every packaged migration, in version order; a misnamed or duplicate file is an error."""
    found: dict[int, Migration] = {}
    for entry in resources.files(MIGRATIONS_PACKAGE).joinpath(MIGRATIONS_DIR).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise RuntimeError(f"migration file {entry.name!r} is not named NNNN_<name>.sql")
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations have version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not applied yet; return their versions (empty when up to date)."""
    pending = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(CREATE_LEDGER)
        applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        done = [await _apply(conn, m) for m in pending if m.version not in applied]
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return done


async def _apply(conn: asyncpg.Connection, migration: Migration) -> int:
    async with conn.transaction():
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
        )
    logger.info("applied migration %04d_%s", migration.version, migration.name)
    return migration.version
