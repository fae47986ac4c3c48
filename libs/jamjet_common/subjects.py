"""Subject names of the public and internal wire contract, and validation of their tokens."""

from __future__ import annotations

import re
import uuid

from jamjet_common.errors import InvalidTokenError

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""Tenants, execution ids and workflow ids are subject tokens: no '.', '*', '>' or whitespace."""

PREFIX = "jamjet"
CMD_PREFIX = f"{PREFIX}.cmd"
CMD_REGISTER = f"{CMD_PREFIX}.workflows.register"
CMD_START = f"{CMD_PREFIX}.executions.start"
CMD_CANCEL = f"{CMD_PREFIX}.executions.cancel"
CMD_APPROVALS = f"{CMD_PREFIX}.approvals"
CMD_SIGNALS = f"{CMD_PREFIX}.signals"
CMD_TENANTS = f"{CMD_PREFIX}.tenants"
CMD_AGENTS = f"{CMD_PREFIX}.agents"
CMD_ALL = f"{CMD_PREFIX}.>"
TENANT_SCOPE = f"{PREFIX}.tenant"
"""Where NATS delivers what a tenant's account sends through its service imports: tenant ``acme``'s
``jamjet.cmd.executions.start`` arrives as ``jamjet.tenant.acme.cmd.executions.start``."""
TENANT_IMPORTED_CMDS = [
    "workflows.register",
    "executions.start",
    "executions.cancel",
    "approvals",
    "signals",
    "agents.*",
]
"""The commands a tenant's account imports (never ``tenants.*``, the operator's); the agent commands act
on the tenant's own registry."""
SCHEDULER_PLAIN_CMDS = [f"{CMD_PREFIX}.workflows.>", f"{CMD_PREFIX}.executions.>", CMD_APPROVALS, CMD_SIGNALS]
SCHEDULER_SCOPED_CMDS = [f"{TENANT_SCOPE}.*.{s.removeprefix(PREFIX + '.')}" for s in SCHEDULER_PLAIN_CMDS]
SCHEDULER_CMD_FILTERS = [*SCHEDULER_PLAIN_CMDS, *SCHEDULER_SCOPED_CMDS]
"""Plain and tenant-scoped: both are stored and served the same way."""
TENANT_CMD_FILTERS = [f"{CMD_TENANTS}.>"]
AGENT_CMD_FILTERS = [f"{CMD_AGENTS}.>", f"{TENANT_SCOPE}.*.cmd.agents.>"]
"""Plain (a trusted client names the tenant) and tenant-scoped, as the scheduler's."""
CMD_STREAM_SUBJECTS = [*SCHEDULER_CMD_FILTERS, *TENANT_CMD_FILTERS, *AGENT_CMD_FILTERS]
"""Only known command families are stored; anything else under jamjet.cmd gets an immediate error."""

EVENTS_ALL = f"{PREFIX}.events.>"
APPEND_ALL = f"{PREFIX}.append.>"
"""Writers publish here; the EVENTS stream stores what it accepts as jamjet.events.* and republishes it,
so a plain subscriber to jamjet.events.> never sees an append that lost an optimistic-concurrency race."""
WORK_ALL = f"{PREFIX}.work.>"
PROGRESS_ALL = f"{PREFIX}.progress.>"
POLICY_EVALUATE = f"{PREFIX}.policy.evaluate"
STORE_PREFIX = f"{PREFIX}.store"
STORE_QUERY_SUBJECTS = [f"{STORE_PREFIX}.>", f"{TENANT_SCOPE}.*.store.>"]
DLQ_ALL = f"{PREFIX}.dlq.>"
DLQ_DECODE = f"{PREFIX}.dlq.decode"
"""Messages that could not be decoded, with the error (stored by JAMJET_DLQ too)."""
DLQ_WORK_ALL = f"{PREFIX}.dlq.work.>"
TIMERS_ALL = f"{PREFIX}.timers.>"
CANCEL_ALL = f"{PREFIX}.cancel.>"
"""Plain NATS broadcast: an execution was cancelled; workers stop its running nodes."""


def check_token(value: str, what: str) -> str:
    """Return ``value`` if it is a valid subject token, else raise naming ``what``."""
    if not isinstance(value, str) or not TOKEN_RE.fullmatch(value):
        shown = repr(value)[:60]
        raise InvalidTokenError(
            f"{what} {shown} must be 1-128 characters of letters, digits, '_' or '-' "
            "(no '.', '*', '>' or whitespace)"
        )
    return value


def events(tenant: str, execution_id: str) -> str:
    return f"{PREFIX}.events.{check_token(tenant, 'tenant')}.{check_token(execution_id, 'execution_id')}"


def events_in_any_tenant(execution_id: str) -> str:
    """An execution id's logs in every tenant: ids are global, so a first event is checked against all."""
    return f"{PREFIX}.events.*.{check_token(execution_id, 'execution_id')}"


def tenant_events(tenant: str) -> str:
    """Every execution's events of one tenant (a wildcard subscription)."""
    return f"{PREFIX}.events.{check_token(tenant, 'tenant')}.*"


def append(tenant: str, execution_id: str) -> str:
    return f"{PREFIX}.append.{check_token(tenant, 'tenant')}.{check_token(execution_id, 'execution_id')}"


def progress(tenant: str, execution_id: str) -> str:
    return f"{PREFIX}.progress.{check_token(tenant, 'tenant')}.{check_token(execution_id, 'execution_id')}"


def work(queue_type: str) -> str:
    return f"{PREFIX}.work.{check_token(queue_type, 'queue_type')}"


def dlq_work(queue_type: str) -> str:
    """Where a work item out of attempts is kept, with its attempts and last error."""
    return f"{PREFIX}.dlq.work.{check_token(queue_type, 'queue_type')}"


def timer(tenant: str, execution_id: str) -> str:
    return f"{PREFIX}.timers.{check_token(tenant, 'tenant')}.{check_token(execution_id, 'execution_id')}"


def cancel(tenant: str, execution_id: str) -> str:
    return f"{PREFIX}.cancel.{check_token(tenant, 'tenant')}.{check_token(execution_id, 'execution_id')}"


def store(query: str) -> str:
    return f"{STORE_PREFIX}.{query}"


def tenant_cmd(action: str) -> str:
    return f"{CMD_TENANTS}.{action}"


def agent_cmd(action: str) -> str:
    return f"{CMD_AGENTS}.{action}"


def parse_events_subject(subject: str) -> tuple[str, str]:
    """Return ``(tenant, execution_id)`` of an events subject."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[:2] != [PREFIX, "events"]:
        raise InvalidTokenError(f"not an events subject: {subject!r}")
    return parts[2], parts[3]


def scoped(tenant: str, subject: str) -> str:
    """The subject as the service account receives it from ``tenant``'s account."""
    return f"{TENANT_SCOPE}.{check_token(tenant, 'tenant')}.{subject.removeprefix(PREFIX + '.')}"


def tenant_from_subject(subject: str) -> tuple[str | None, str]:
    """``(tenant, plain subject)`` of a tenant-scoped subject; ``(None, subject)`` for any other.

    The tenant comes from NATS (the import that delivered the message), so the sender cannot forge it.
    """
    prefix = TENANT_SCOPE + "."
    if not subject.startswith(prefix):
        return None, subject
    tenant, _, rest = subject.removeprefix(prefix).partition(".")
    return check_token(tenant, "tenant"), f"{PREFIX}.{rest}"


def new_execution_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


def is_stored_command(subject: str) -> bool:
    return any(matches(p, subject) for p in CMD_STREAM_SUBJECTS)
