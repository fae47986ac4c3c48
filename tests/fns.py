"""Node functions used by workflows in the tests (python_fn nodes import them by name)."""

from __future__ import annotations

from typing import Any


def noop(state: dict[str, Any]) -> dict[str, Any]:
    return {}


def mark(state: dict[str, Any]) -> dict[str, Any]:
    count = int(state.get("count", 0)) + 1
    return {"count": count}


async def async_mark(state: dict[str, Any]) -> dict[str, Any]:
    return {"async_seen": True}


def fail(state: dict[str, Any]) -> dict[str, Any]:
    raise ValueError("this node always fails")
