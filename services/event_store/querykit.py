"""Request decoding and keyset paging shared by the store's queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jamjet_common import subjects
from jamjet_common.codec import decode, refuse_nul
from jamjet_common.errors import ContractError

MAX_QUERY_BYTES = 16 * 1024
MAX_PAGE = 1000


def request[Q](data: bytes, type_: type[Q], what: str) -> Q:
    query = decode(data, type_, what=what, max_bytes=MAX_QUERY_BYTES)
    # Postgres cannot compare or store NUL: a query naming one is the sender's error, not an outage.
    refuse_nul(data, query, what)
    return query


def check_range(name: str, value: int, low: int, high: int, code: str) -> None:
    if not low <= value <= high:
        raise ContractError(f"{name} must be between {low} and {high}, not {value}", code=code)


def one_of(name: str, value: str, allowed: Sequence[str], code: str) -> str:
    """``value`` if it is one of ``allowed``, else the query's specific error."""
    if value not in allowed:
        raise ContractError(f"{name} {value[:40]!r} is not one of {', '.join(allowed)}", code=code)
    return value


def token_filters(**values: str | None) -> list[tuple[str, str]]:
    """Equality filters on subject-token columns (tenant, execution_id, workflow_id), checked."""
    return [
        (column, subjects.check_token(value, column)) for column, value in values.items() if value is not None
    ]


def keyset_sql(
    select: str,
    key: tuple[str, ...],
    filters: list[tuple[str, str]],
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """A newest-first page by ``key`` after the cursor's key (each filter combination is its own plan)."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in filters:
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    if after is not None:
        first = len(args) + 1
        args.extend(after)
        params = ", ".join(f"${i}" for i in range(first, len(args) + 1))
        clauses.append(f"({', '.join(key)}) < ({params})")
    args.append(limit + 1)
    condition = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = ", ".join(f"{column} DESC" for column in key)
    return f"{select} {condition} ORDER BY {order} LIMIT ${len(args)}", args
