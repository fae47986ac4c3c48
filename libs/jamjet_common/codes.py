"""Every error code a service answers with: who returns it and what it means.

The README's error-code table is this list (a contract test keeps the two equal), so a client has one
place to look and a new code cannot appear in a reply without being documented.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplyCode:
    returned_by: str
    meaning: str


ALL = "scheduler, policy, event store"
SCHEDULER = "scheduler"
POLICY = "policy"
STORE = "event store"
GATEWAY = "gateway"

REPLY_CODES: dict[str, ReplyCode] = {
    # ---- any request or command ------------------------------------------------------------------
    "malformed_json": ReplyCode(ALL, "the body is not JSON (dead-lettered when it came through JAMJET_CMDS)"),
    "invalid_request": ReplyCode(ALL, "a field is missing or of the wrong type; the message names it"),
    "payload_too_large": ReplyCode(ALL, "the body is larger than `JAMJET_MAX_MESSAGE_BYTES`"),
    "invalid_token": ReplyCode(ALL, "a tenant, execution_id or other id is empty or not a subject token"),
    "invalid_workflow_id": ReplyCode(
        "scheduler, event store",
        "a workflow id is empty, longer than 256 characters or has control characters",
    ),
    "internal_error": ReplyCode(
        ALL, "an unexpected failure (see the service's log); for a command, after the last attempt"
    ),
    "unreadable_record": ReplyCode(
        "scheduler, policy",
        "a stored tenant, workflow or agent record does not fit its schema; after the last attempt",
    ),
    "unknown_command": ReplyCode("scheduler, policy", "no command is served on that subject"),
    "tenant_mismatch": ReplyCode(
        "scheduler, event store", "a tenant's client named another tenant in the body (docs/security.md)"
    ),
    # ---- scheduler -------------------------------------------------------------------------------
    "invalid_ir": ReplyCode(SCHEDULER, "the workflow IR breaks a rule; the message says which"),
    "version_conflict": ReplyCode(SCHEDULER, "that workflow version is registered with other content"),
    "unknown_workflow": ReplyCode("scheduler, event store", "no such workflow (version) for the tenant"),
    "unknown_tenant": ReplyCode("scheduler, policy", "no such tenant"),
    "tenant_suspended": ReplyCode(SCHEDULER, "the tenant is suspended or archived"),
    "tenant_limit_exceeded": ReplyCode(
        SCHEDULER, "a tenant limit (running executions, tokens, cost) is reached"
    ),
    "limits_unavailable": ReplyCode(
        SCHEDULER, "the tenant has limits and its usage cannot be read; answered after the last attempt"
    ),
    "execution_exists": ReplyCode(SCHEDULER, "the execution id is taken by another workflow or tenant"),
    "start_in_doubt": ReplyCode(
        SCHEDULER,
        "a start conflicted with one a stream leader lost before committing it; retried each second for"
        " a minute, as `unavailable` is, then answered",
    ),
    "unknown_execution": ReplyCode("scheduler, event store", "no such execution"),
    "execution_terminal": ReplyCode(SCHEDULER, "the execution has already finished"),
    "busy": ReplyCode(SCHEDULER, "the execution kept changing under the command; try again"),
    "nothing_pending": ReplyCode(SCHEDULER, "no approval is pending"),
    "not_pending": ReplyCode(SCHEDULER, "the named node is not waiting for approval"),
    "approval_ambiguous": ReplyCode(SCHEDULER, "several approvals are pending; name the node_id"),
    # ---- policy ----------------------------------------------------------------------------------
    "tenant_exists": ReplyCode(POLICY, "a tenant with that id exists"),
    "invalid_tenant": ReplyCode(POLICY, "the tenant record would break its schema; names the field and type"),
    "unknown_agent": ReplyCode(POLICY, "no such agent (id or uri) in the tenant's registry"),
    "agent_exists": ReplyCode(POLICY, "an agent with that uri is registered"),
    "invalid_transition": ReplyCode(POLICY, "the agent's lifecycle does not allow that status change"),
    # ---- event store -----------------------------------------------------------------------------
    "unknown_query": ReplyCode(STORE, "no query is served on that subject"),
    "store_unavailable": ReplyCode(STORE, "Postgres cannot be reached"),
    "artifacts_unavailable": ReplyCode(STORE, "the artifact bucket cannot be read"),
    "unknown_artifact": ReplyCode(f"{STORE}, {GATEWAY}", "the tenant has no artifact with that hash"),
    "invalid_hash": ReplyCode(STORE, "the artifact hash is not a sha256 hex digest"),
    "reply_too_large": ReplyCode(STORE, "one item is larger than a reply can carry"),
    "invalid_limit": ReplyCode(STORE, "limit is out of range"),
    "invalid_from_sequence": ReplyCode(STORE, "from_sequence is out of range"),
    "invalid_status": ReplyCode(STORE, "status is not one of the listed values"),
    "invalid_kind": ReplyCode(STORE, "kind is not one of the listed values"),
    "invalid_cursor": ReplyCode(STORE, "`after` is not a cursor this query returned"),
    "invalid_version": ReplyCode(STORE, "version is empty or too long"),
    # ---- HTTP gateway (besides every code above, which it passes on) -----------------------------
    "unauthorized": ReplyCode(GATEWAY, "no valid `Authorization: Bearer` token (HTTP 401)"),
    "read_only": ReplyCode(GATEWAY, "the token may only read (HTTP 403)"),
    "method_not_allowed": ReplyCode(GATEWAY, "the path does not take that HTTP method (HTTP 405)"),
    "unavailable": ReplyCode(
        f"{ALL}, {GATEWAY}",
        "NATS, a stream, or the service behind the request does not answer (HTTP 503); a command is"
        " retried each second for a minute first",
    ),
    "invalid_media_type": ReplyCode(GATEWAY, "an artifact's media type is not type/subtype"),
    "invalid_offset": ReplyCode(GATEWAY, "offset is out of range"),
    "invalid_follow": ReplyCode(GATEWAY, "follow is not true or false"),
    "console_not_built": ReplyCode(GATEWAY, "the web console's files are missing: `make console` (HTTP 404)"),
}

UNDECODABLE = frozenset({"malformed_json", "invalid_request", "payload_too_large", "invalid_token"})
"""Codes meaning a command itself could not be read: it is dead-lettered besides the answer."""
