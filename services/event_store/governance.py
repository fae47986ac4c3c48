"""SQL of the governance queries: approvals waiting for (or given by) humans, and a tenant's usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from jamjet_common.messages import ApprovalsQuery
from services.event_store.intake import MAX_BIGINT
from services.event_store.querykit import MAX_PAGE, check_range, keyset_sql, one_of, token_filters
from services.event_store.views import decode_approval_cursor

APPROVAL_STATUSES = ("pending", "approved", "rejected", "closed")
ALL = "all"
APPROVAL_KEY = ("requested_at", "execution_id", "requested_seq")
APPROVAL_COLUMNS = """
execution_id, tenant, node_id, tool_name, approver, context::text AS context, status, requested_seq,
requested_at, user_id, comment, decided_seq, decided_at
"""

# The predicate repeats executions_active's, so the count reads that (small) partial index.
TENANT_USAGE = """
SELECT
    (SELECT count(*) FROM executions
     WHERE tenant = $1 AND status IN ('running', 'paused')) AS running,
    COALESCE(sum(input_tokens), 0) AS input_tokens,
    COALESCE(sum(output_tokens), 0) AS output_tokens,
    COALESCE(sum(cost_usd), 0) AS cost_usd
FROM executions
WHERE tenant = $1 AND started_at >= $2 AND started_at < $3
"""


def approvals_sql(query: ApprovalsQuery) -> tuple[str, list[Any]]:
    check_range("limit", query.limit, 1, MAX_PAGE, "invalid_limit")
    filters = _approval_filters(query)
    after = decode_approval_cursor(query.after, MAX_BIGINT) if query.after is not None else None
    select = f"SELECT {APPROVAL_COLUMNS} FROM approvals"
    return keyset_sql(select, APPROVAL_KEY, filters, after, query.limit)


def _approval_filters(query: ApprovalsQuery) -> list[tuple[str, str]]:
    one_of("status", query.status, (*APPROVAL_STATUSES, ALL), "invalid_status")
    filters = [] if query.status == ALL else [("status", query.status)]
    return filters + token_filters(tenant=query.tenant, execution_id=query.execution_id)


@dataclass(frozen=True, slots=True)
class Month:
    """A UTC calendar month: ``start`` inclusive, ``end`` exclusive."""

    label: str
    start: datetime
    end: datetime


def month_of(now: datetime) -> Month:
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return Month(f"{now.year:04d}-{now.month:02d}", start, end)


async def tenant_usage(conn: asyncpg.Connection, tenant: str, month: Month) -> dict[str, Any]:
    """The tenant's active executions, and the usage of its executions started in ``month``."""
    row = await conn.fetchrow(TENANT_USAGE, tenant, month.start, month.end)
    input_tokens, output_tokens = int(row["input_tokens"]), int(row["output_tokens"])
    return {
        "tenant": tenant,
        "running_executions": row["running"],
        "month": month.label,
        "tokens_this_month": input_tokens + output_tokens,
        "input_tokens_this_month": input_tokens,
        "output_tokens_this_month": output_tokens,
        "cost_usd_this_month": float(row["cost_usd"]),
    }
