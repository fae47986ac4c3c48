"""A TCP relay between the event store and Postgres that a test can cut and restore.

Cutting it is what a Postgres outage looks like to the store: open connections drop and new ones are
refused. The database behind it is the real one.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tests.relay import TcpRelay


class PostgresRelay(TcpRelay):
    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        super().__init__(parts.hostname or "127.0.0.1", parts.port or 5432)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        self.url = urlunsplit(parts._replace(netloc=f"{userinfo}{self.address}"))
