"""Answers to ``jamjet.store.<query>`` requests: events, executions, workflow IR, dead letters,
approvals, tenant usage.

Every request is validated before it reaches SQL, and every failure becomes a specific error reply.
Pages are cut by count and by bytes, so a reply always fits in one NATS message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from jamjet_common import subjects
from jamjet_common.catalog import check_workflow_id, latest
from jamjet_common.codec import ok_reply
from jamjet_common.errors import (
    ContractError,
    JamjetError,
    UnknownExecutionError,
    UnknownWorkflowError,
)
from jamjet_common.messages import (
    DEFAULT_TENANT,
    ApprovalsQuery,
    DeadLettersQuery,
    EventsQuery,
    ExecutionQuery,
    ExecutionsQuery,
    TenantUsageQuery,
    WorkflowQuery,
)
from jamjet_common.router import Request, Router, body
from services.event_store.artifacts import ArtifactResolver
from services.event_store.database import Database, StoreUnavailableError
from services.event_store.dlq_intake import KINDS
from services.event_store.fold import STATUSES
from services.event_store.governance import approvals_sql, month_of, tenant_usage
from services.event_store.intake import MAX_BIGINT
from services.event_store.querykit import MAX_PAGE, check_range, keyset_sql, one_of, request, token_filters
from services.event_store.views import (
    approval_view,
    dead_letter_view,
    decode_cursor,
    decode_seq_cursor,
    encode_approval_cursor,
    encode_cursor,
    encode_seq_cursor,
    execution_view,
    wire_event,
    workflow_view,
)

logger = logging.getLogger(__name__)

MAX_VERSION_CHARS = 128
REPLY_ENVELOPE_BYTES = 512
CURSOR_PREFETCH = 16
"""Room kept in a reply for everything but the page's items."""
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

EXECUTION_COLUMNS = """
execution_id, tenant, workflow_id, workflow_version, status, initial_input::text AS initial_input,
current_state::text AS current_state, last_sequence, error, started_at, updated_at, completed_at
"""
SELECT_EVENTS = """
SELECT event_id, execution_id, tenant, sequence, created_at, kind::text AS kind FROM events
WHERE execution_id = $1 AND sequence >= $2 AND ($4::text IS NULL OR tenant = $4) ORDER BY sequence LIMIT $3
"""
ANY_EVENT = (
    "SELECT EXISTS (SELECT 1 FROM events WHERE execution_id = $1 AND ($2::text IS NULL OR tenant = $2))"
)
SELECT_EXECUTION = f"""
SELECT {EXECUTION_COLUMNS} FROM executions WHERE execution_id = $1 AND ($2::text IS NULL OR tenant = $2)
"""
SELECT_VERSIONS = (
    "SELECT version FROM workflows WHERE tenant = $1 AND workflow_id = $2 ORDER BY registered_at, version"
)
SELECT_WORKFLOW = """
SELECT tenant, workflow_id, version, ir::text AS ir, registered_at, warnings::text AS warnings FROM workflows
WHERE tenant = $1 AND workflow_id = $2 AND version = $3
"""
DEAD_LETTER_COLUMNS = """
id, stream_seq, kind, tenant, execution_id, node_id, dispatch, queue_type, attempts, last_error,
payload::text AS record, created_at
"""


FROM_EVENTS = frozenset({"events", "execution", "executions", "approvals", "tenant_usage"})
"""Queries answered from the rows the events consumer writes: they read after the events the store holds
(``EventStoreService._answer``); the others do not wait for them."""

class StoreQueries:
    def __init__(self, db: Database, max_reply_bytes: int, artifacts: ArtifactResolver) -> None:
        self._db = db
        self._budget = max_reply_bytes - REPLY_ENVELOPE_BYTES
        self._artifacts = artifacts

    def router(self) -> Router:
        """The ``jamjet.store.<query>`` router: every failure becomes a specific error reply."""
        handlers = {
            "events": self.events,
            "execution": self.execution,
            "executions": self.executions,
            "workflow": self.workflow,
            "dead_letters": self.dead_letters,
            "approvals": self.approvals,
            "tenant_usage": self.tenant_usage,
            "artifact": self._artifacts.artifact,
        }
        return Router(
            "store query",
            {name: body(handle) for name, handle in handlers.items()},
            prefix=subjects.STORE_PREFIX + ".",
            unknown=_unknown_query,
            classify=_database_error,
        )

    async def events(self, data: bytes) -> bytes:
        query = request(data, EventsQuery, "events query")
        subjects.check_token(query.execution_id, "execution_id")
        check_range("limit", query.limit, 1, MAX_PAGE, "invalid_limit")
        check_range("from_sequence", query.from_sequence, 0, MAX_BIGINT, "invalid_from_sequence")
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch(
                SELECT_EVENTS, query.execution_id, query.from_sequence, query.limit + 1, query.tenant
            )
            if not rows and not await conn.fetchval(ANY_EVENT, query.execution_id, query.tenant):
                raise UnknownExecutionError(f"no events stored for execution {query.execution_id!r}")
        # Spilled outputs are the execution's tenant's artifacts (one execution: one tenant).
        tenant = rows[0]["tenant"] if rows else query.tenant or DEFAULT_TENANT
        page = [wire_event(r) for r in rows[: query.limit]]
        wire = await self._artifacts.resolve_page(tenant, page, self._budget)
        items, has_more = self._page(wire, len(rows) > query.limit)
        next_sequence = rows[len(items) - 1]["sequence"] + 1 if items else max(query.from_sequence, 1)
        return ok_reply(events=items, next_sequence=next_sequence, has_more=has_more)

    async def execution(self, data: bytes) -> bytes:
        query = request(data, ExecutionQuery, "execution query")
        subjects.check_token(query.execution_id, "execution_id")
        async with self._db.pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_EXECUTION, query.execution_id, query.tenant)
        if row is None:
            raise UnknownExecutionError(f"no execution {query.execution_id!r} is stored")
        view = execution_view(row)
        if len(view) > self._budget:
            raise ContractError(
                f"execution {query.execution_id!r} is too large for one reply", code="reply_too_large"
            )
        return ok_reply(execution=msgspec.Raw(view))

    async def executions(self, data: bytes) -> bytes:
        query = request(data, ExecutionsQuery, "executions query")
        sql, args = _list_sql(query)
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        items, has_more = self._page(
            [execution_view(r) for r in rows[: query.limit]], len(rows) > query.limit
        )
        last = rows[len(items) - 1] if items else None
        cursor = encode_cursor(last["started_at"], last["execution_id"]) if has_more and last else None
        return ok_reply(executions=items, next=cursor)

    async def workflow(self, data: bytes) -> bytes:
        query = request(data, WorkflowQuery, "workflow query")
        subjects.check_token(query.tenant, "tenant")
        check_workflow_id(query.workflow_id)
        if query.version is not None and not 1 <= len(query.version) <= MAX_VERSION_CHARS:
            raise ContractError(f"version must be 1-{MAX_VERSION_CHARS} characters", code="invalid_version")
        async with self._db.pool.acquire() as conn:
            version = query.version or await _latest(conn, query.tenant, query.workflow_id)
            row = await conn.fetchrow(SELECT_WORKFLOW, query.tenant, query.workflow_id, version)
        if row is None:
            raise UnknownWorkflowError(
                f"workflow {query.workflow_id!r} version {version} is not registered "
                f"for tenant {query.tenant!r}"
            )
        return ok_reply(workflow=msgspec.Raw(workflow_view(row)))

    async def dead_letters(self, data: bytes) -> bytes:
        query = request(data, DeadLettersQuery, "dead_letters query")
        sql, args = _dead_letters_sql(query)
        async with self._db.pool.acquire() as conn:
            rows, cut = await _fetch_within(conn, sql, args, self._budget)
        views = [dead_letter_view(r, self._budget) for r in rows[: query.limit]]
        items, has_more = self._page(views, cut or len(rows) > query.limit)
        last = rows[len(items) - 1] if items else None
        cursor = encode_seq_cursor(last["stream_seq"]) if has_more and last else None
        return ok_reply(dead_letters=items, next=cursor)

    async def approvals(self, data: bytes) -> bytes:
        query = request(data, ApprovalsQuery, "approvals query")
        sql, args = approvals_sql(query)
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        items, has_more = self._page([approval_view(r) for r in rows[: query.limit]], len(rows) > query.limit)
        last = rows[len(items) - 1] if items else None
        cursor = (
            encode_approval_cursor(last["requested_at"], last["execution_id"], last["requested_seq"])
            if has_more and last
            else None
        )
        return ok_reply(approvals=items, next=cursor)

    async def tenant_usage(self, data: bytes) -> bytes:
        query = request(data, TenantUsageQuery, "tenant_usage query")
        subjects.check_token(query.tenant, "tenant")
        async with self._db.pool.acquire() as conn:
            usage = await tenant_usage(conn, query.tenant, month_of(datetime.now(UTC)))
        return ok_reply(**usage)

    def _page(self, items: list[bytes], more: bool) -> tuple[list[msgspec.Raw], bool]:
        """The leading items that fit in one reply, and whether anything is left after them."""
        if items and len(items[0]) > self._budget:
            raise ContractError(
                f"the next item is {len(items[0])} bytes, more than a reply can carry", code="reply_too_large"
            )
        size = 0
        for kept, item in enumerate(items):
            size += len(item) + 1
            if size > self._budget:
                return [msgspec.Raw(i) for i in items[:kept]], True
        return [msgspec.Raw(i) for i in items], more


async def _fetch_within(
    conn: asyncpg.Connection, sql: str, args: list[Any], budget: int
) -> tuple[list[asyncpg.Record], bool]:
    """The rows up to the first whose records together pass ``budget`` (and whether it stopped there).

    Records can be as large as a work item with its state; the reply is cut at that size anyway, so
    reading the rest of a 1000-row page would only cost memory.
    """
    rows: list[asyncpg.Record] = []
    size = 0
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(sql, *args, prefetch=CURSOR_PREFETCH):
            rows.append(row)
            # A record too large for any reply travels without it (see dead_letter_view).
            size += len(row["record"]) if len(row["record"]) < budget else 0
            if size > budget:
                return rows, True
    return rows, False


def _unknown_query(request: Request, known: Sequence[str]) -> ContractError:
    queries = ", ".join(subjects.store(name) for name in known)
    return ContractError(
        f"no store query {request.subject!r}; the queries are {queries}", code="unknown_query"
    )


def _database_error(exc: Exception) -> JamjetError | None:
    if isinstance(exc, _DB_ERRORS):
        return StoreUnavailableError(f"Postgres is unavailable: {exc}")
    return None


def _list_sql(query: ExecutionsQuery) -> tuple[str, list[Any]]:
    check_range("limit", query.limit, 1, MAX_PAGE, "invalid_limit")
    filters = _filters(query)
    after = decode_cursor(query.after) if query.after is not None else None
    select = f"SELECT {EXECUTION_COLUMNS} FROM executions"
    return keyset_sql(select, ("started_at", "execution_id"), filters, after, query.limit)


def _dead_letters_sql(query: DeadLettersQuery) -> tuple[str, list[Any]]:
    check_range("limit", query.limit, 1, MAX_PAGE, "invalid_limit")
    filters = _dead_letter_filters(query)
    after = (decode_seq_cursor(query.after, MAX_BIGINT),) if query.after is not None else None
    select = f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters"
    return keyset_sql(select, ("stream_seq",), filters, after, query.limit)


def _dead_letter_filters(query: DeadLettersQuery) -> list[tuple[str, str]]:
    filters = [] if query.kind is None else [("kind", one_of("kind", query.kind, KINDS, "invalid_kind"))]
    return filters + token_filters(tenant=query.tenant, execution_id=query.execution_id)


def _filters(query: ExecutionsQuery) -> list[tuple[str, str]]:
    status = query.status
    filters = [] if status is None else [("status", one_of("status", status, STATUSES, "invalid_status"))]
    workflow = [] if query.workflow_id is None else [("workflow_id", check_workflow_id(query.workflow_id))]
    return filters + token_filters(tenant=query.tenant) + workflow


async def _latest(conn: asyncpg.Connection, tenant: str, workflow_id: str) -> str:
    versions: Sequence[str] = [r["version"] for r in await conn.fetch(SELECT_VERSIONS, tenant, workflow_id)]
    if not versions:
        raise UnknownWorkflowError(f"workflow {workflow_id!r} is not registered for tenant {tenant!r}")
    return latest(versions)
