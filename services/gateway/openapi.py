"""The OpenAPI 3.1 document of the gateway, served at /openapi.json (schemathesis tests against it)."""

from __future__ import annotations

from typing import Any

from jamjet_common.messages import EXECUTION_STATUSES

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
OBJECT: Schema = {"type": "object"}
TIME: Schema = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": obj({"code": STR, "message": STR})}),
    "Registered": obj(
        {"workflow_id": STR, "version": STR},
        {"created": BOOL, "warnings": {"type": "array", "items": STR}},
    ),
    "Started": obj({"execution_id": STR}, {"workflow_id": STR, "workflow_version": STR, "created": BOOL}),
    "Execution": obj(
        {
            "execution_id": STR,
            "tenant": STR,
            "workflow_id": STR,
            "workflow_version": STR,
            "status": {"type": "string", "enum": list(EXECUTION_STATUSES)},
            "started_at": TIME,
            "updated_at": TIME,
        },
        {
            "initial_input": ANY,
            "current_state": ANY,
            "last_sequence": INT,
            "error": NULLABLE_STR,
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    ),
    "ExecutionList": obj({"executions": {"type": "array", "items": ref("Execution")}, "next": NULLABLE_STR}),
    "Event": obj(
        {
            "id": STR,
            "execution_id": STR,
            "sequence": INT,
            "created_at": TIME,
            "kind": {"type": "object", "required": ["type"], "properties": {"type": STR}},
        }
    ),
    "Events": obj(
        {"events": {"type": "array", "items": ref("Event")}, "next_sequence": INT, "has_more": BOOL}
    ),
    "Cancelled": obj({"execution_id": STR, "status": STR}),
    "ApprovalAccepted": obj({"execution_id": STR, "node_id": STR, "accepted": BOOL}, {"decision": STR}),
    "Approvals": obj(
        {
            "pending": {
                "type": "array",
                "items": obj(
                    {"node_id": STR, "tool_name": STR, "approver": STR, "sequence": INT}, {"context": ANY}
                ),
            },
            "decided": {
                "type": "array",
                "items": obj(
                    {"node_id": STR, "status": STR, "sequence": {"type": ["integer", "null"]}},
                    {"user_id": NULLABLE_STR, "comment": STR},
                ),
            },
        }
    ),
    "ExternalEventAccepted": obj({"execution_id": STR, "accepted": BOOL}, {"correlation_key": STR}),
    "ArtifactRef": obj({"hash": STR, "size": INT, "media_type": NULLABLE_STR}),
    "Agent": obj({"id": STR, "card": OBJECT, "status": STR}),
    "AgentList": obj({"agents": {"type": "array", "items": ref("Agent")}}),
    "Workers": obj(
        {
            "workers": {
                "type": "array",
                "items": obj({"queue_type": STR, "consumer": STR, "waiting_pulls": INT, "in_flight": INT}),
            }
        }
    ),
    "Health": obj({"status": STR, "version": STR}),
}

BODIES: dict[str, Schema] = {
    "Workflow": obj({"ir": OBJECT}),
    "Start": obj(
        {"workflow_id": STR},
        {"workflow_version": NULLABLE_STR, "input": OBJECT, "execution_id": NULLABLE_STR},
    ),
    "Cancel": obj({}, {"reason": NULLABLE_STR}),
    "Approve": obj(
        {"decision": {"type": "string", "enum": ["approved", "rejected"]}},
        {
            "node_id": NULLABLE_STR,
            "user_id": STR,
            "comment": NULLABLE_STR,
            "state_patch": {"type": ["object", "null"]},
        },
    ),
    "ExternalEvent": obj({"correlation_key": STR}, {"payload": ANY}),
    "AgentCard": OBJECT,
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {
    str(status): {"description": text, **_json(ref("Error"))}
    for status, text in [
        (400, "invalid request (the reply's code says what)"),
        (401, "no valid bearer token"),
        (403, "read-only token, or the tenant may not act now"),
        (404, "not found, or another tenant's"),
        (409, "conflicts with the current state"),
        (413, "body too large"),
        (429, "a tenant limit is reached"),
        (503, "the runtime did not answer"),
        (504, "the runtime did not answer in time"),
    ]
}


def op(
    summary: str,
    status: int,
    schema: Schema | None,
    *,
    body: str | None = None,
    params: list[Schema] | None = None,
) -> Schema:
    ok: Schema = {"description": summary}
    if schema is not None:
        ok |= _json(schema)
    operation: Schema = {"summary": summary, "responses": {str(status): ok, **ERRORS}}
    if body is not None:
        required = body not in ("Cancel",)
        operation["requestBody"] = {"required": required, **_json(BODIES[body])}
    if params:
        operation["parameters"] = params
    return operation


def query(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def path(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR}


EXECUTION = [path("execution_id")]
AGENT = [path("agent_id")]
EVENT_PARAMS = [
    query("from_sequence", {"type": "integer", "minimum": 1}),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
    query("follow", {"type": "boolean"}),
    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": STR},
]
LIST_PARAMS = [
    query("status", {"type": "string", "enum": list(EXECUTION_STATUSES)}),
    query("workflow_id", STR),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    query("offset", {"type": "integer", "minimum": 0, "maximum": 100000}),
    query("after", STR),
]
SSE: Schema = {"text/event-stream": {"schema": {}}}


def _events_op() -> Schema:
    operation = op("the execution's events (JSON page, or SSE with follow=true)", 200, ref("Events"))
    operation["responses"]["200"]["content"] |= SSE
    operation["parameters"] = EXECUTION + EVENT_PARAMS
    return operation


def _progress_op() -> Schema:
    operation = op("live agent_tool progress as SSE, until the execution ends", 200, None)
    operation["responses"]["200"]["content"] = SSE
    operation["parameters"] = [
        *EXECUTION,
        {"name": "Last-Event-ID", "in": "header", "required": False, "schema": STR},
    ]
    return operation


def _artifact_get() -> Schema:
    operation = op("the artifact's bytes", 200, None, params=[path("hash")])
    operation["responses"]["200"]["content"] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    return operation


def _artifact_put() -> Schema:
    operation = op("store bytes; their SHA-256 reference", 201, ref("ArtifactRef"))
    operation["parameters"] = [query("media_type", STR)]
    operation["requestBody"] = {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    return operation


PATHS: dict[str, Schema] = {
    "/health": {"get": {**op("liveness", 200, ref("Health")), "security": []}},
    "/workflows": {"post": op("register a workflow IR", 201, ref("Registered"), body="Workflow")},
    "/executions": {
        "post": op("start an execution", 201, ref("Started"), body="Start"),
        "get": op("the tenant's executions, newest first", 200, ref("ExecutionList"), params=LIST_PARAMS),
    },
    "/executions/{execution_id}": {"get": op("one execution", 200, ref("Execution"), params=EXECUTION)},
    "/executions/{execution_id}/cancel": {
        "post": op("cancel", 200, ref("Cancelled"), body="Cancel", params=EXECUTION)
    },
    "/executions/{execution_id}/events": {"get": _events_op()},
    "/executions/{execution_id}/progress": {"get": _progress_op()},
    "/executions/{execution_id}/approve": {
        "post": op(
            "decide a pending approval", 200, ref("ApprovalAccepted"), body="Approve", params=EXECUTION
        )
    },
    "/executions/{execution_id}/approvals": {
        "get": op("pending and decided approvals", 200, ref("Approvals"), params=EXECUTION)
    },
    "/executions/{execution_id}/external-event": {
        "post": op(
            "signal wait nodes", 200, ref("ExternalEventAccepted"), body="ExternalEvent", params=EXECUTION
        )
    },
    "/artifacts": {"post": _artifact_put()},
    "/artifacts/{hash}": {"get": _artifact_get()},
    "/agents": {
        "post": op("register an agent card", 201, ref("Agent"), body="AgentCard"),
        "get": op(
            "registered agents",
            200,
            ref("AgentList"),
            params=[query("status", STR), query("skill", STR), query("protocol", STR)],
        ),
    },
    "/agents/{agent_id}": {"get": op("one agent", 200, ref("Agent"), params=AGENT)},
    "/agents/{agent_id}/activate": {"post": op("activate", 200, ref("Agent"), params=AGENT)},
    "/agents/{agent_id}/deactivate": {"post": op("deactivate", 200, ref("Agent"), params=AGENT)},
    "/workers": {"get": op("worker queues and their activity", 200, ref("Workers"))},
}


def document(version: str) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": "JamJet runtime gateway", "version": version},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }
