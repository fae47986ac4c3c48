"""``@tool`` functions of the SDK agents under test; each records that it ran."""

from __future__ import annotations

from typing import Any

from jamjet import tool

RUNS: list[tuple[str, dict[str, Any]]] = []
"""(tool, arguments) of every tool that ran, in this process (the worker runs in the test's loop)."""


@tool
async def lookup_customer(customer_id: str) -> str:
    """Look a customer up."""
    RUNS.append(("lookup_customer", {"customer_id": customer_id}))
    return f"customer {customer_id}: ACME"


@tool
async def delete_records(table: str) -> str:
    """Delete every record of a table."""
    RUNS.append(("delete_records", {"table": table}))
    return f"deleted {table}"


@tool
async def send_invoice(customer_id: str, amount: float) -> dict[str, Any]:
    """Send an invoice."""
    RUNS.append(("send_invoice", {"customer_id": customer_id, "amount": amount}))
    return {"sent": True, "amount": amount}


def ran(name: str) -> list[dict[str, Any]]:
    return [arguments for tool_name, arguments in RUNS if tool_name == name]
