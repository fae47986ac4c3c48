"""Python tools the SDK graph tests name by ``tool_ref``; each records the arguments it got."""

from __future__ import annotations

from typing import Any

CALLS: list[tuple[str, dict[str, Any]]] = []


def search(arguments: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(("search", arguments))
    return {"hits": [f"{arguments.get('query')}-1", f"{arguments.get('query')}-2"]}


def weather(arguments: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(("weather", arguments))
    return {"forecast": f"sunny in {arguments.get('city')}"}


async def score(arguments: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(("score", arguments))
    return {"score": len(arguments.get("hits") or [])}
