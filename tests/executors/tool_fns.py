"""Functions the python-kind tool tests call."""

from __future__ import annotations

import asyncio
from typing import Any


def add(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"sum": arguments["a"] + arguments["b"]}


async def shout(arguments: dict[str, Any]) -> str:
    await asyncio.sleep(0)
    return str(arguments["text"]).upper()


def nothing(arguments: dict[str, Any]) -> None:
    return None


def unserializable(arguments: dict[str, Any]) -> object:
    return object()
