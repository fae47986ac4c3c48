"""The demo workflow that `make run` registers and starts: a diamond with a condition node."""

from __future__ import annotations

from typing import Any

WORKFLOW_ID = "demo_triage"


def intake(state: dict[str, Any]) -> dict[str, Any]:
    ticket = state.get("ticket", {})
    return {"ticket_id": ticket.get("id", "T-1"), "text": str(ticket.get("text", "")).strip()}


def enrich_geo(state: dict[str, Any]) -> dict[str, Any]:
    return {"geo": {"region": "eu-west", "customer_tier": "gold"}}


def enrich_history(state: dict[str, Any]) -> dict[str, Any]:
    text = str(state.get("text", "")).lower()
    return {"history": {"previous_tickets": 3}, "urgent": "outage" in text or "down" in text}


def escalate(state: dict[str, Any]) -> dict[str, Any]:
    return {"route": "on-call engineer paged", "sla_minutes": 15}


def standard(state: dict[str, Any]) -> dict[str, Any]:
    return {"route": "support queue", "sla_minutes": 240}


def summarize(state: dict[str, Any]) -> dict[str, Any]:
    return {"summary": f"{state.get('ticket_id')}: {state.get('route')} (SLA {state.get('sla_minutes')} min)"}


def _fn(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "python_fn", "module": __name__, "function": node_id}}


def workflow_ir() -> dict[str, Any]:
    triage = {
        "id": "triage",
        "kind": {
            "type": "condition",
            "branches": [
                {"condition": "state.urgent == true", "target": "escalate"},
                {"condition": None, "target": "standard"},
            ],
        },
    }
    nodes = [_fn("intake"), _fn("enrich_geo"), _fn("enrich_history"), triage]
    nodes += [_fn("escalate"), _fn("standard"), _fn("summarize")]
    edges = [
        ("intake", "enrich_geo"),
        ("intake", "enrich_history"),
        ("enrich_geo", "triage"),
        ("enrich_history", "triage"),
        ("triage", "escalate"),
        ("triage", "standard"),
        ("escalate", "summarize"),
        ("standard", "summarize"),
        ("summarize", "end"),
    ]
    return {
        "workflow_id": WORKFLOW_ID,
        "version": "1.0.0",
        "name": "Ticket triage demo",
        "state_schema": "{}",
        "start_node": "intake",
        "nodes": {n["id"]: n for n in nodes},
        "edges": [{"from": a, "to": b} for a, b in edges],
        "retry_policies": {},
        "models": {},
        "tools": {},
        "mcp_servers": {},
        "remote_agents": {},
    }


DEMO_INPUT = {"ticket": {"id": "T-1042", "text": "Checkout is down for all EU customers"}}
