"""What every command family shares: a size limit, a table of actions, bodies where empty means ``{}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from jamjet_common import codec
from jamjet_common.errors import PayloadTooLargeError
from services.policy.errors import UnknownCommandError

Handler = Callable[[bytes], Awaitable[dict[str, Any]]]


class Commands(Protocol):
    async def execute(self, action: str, data: bytes) -> dict[str, Any]:
        """Run ``action`` with body ``data``: the success reply's fields, or a ContractError."""
        ...


async def dispatch(
    family: str, action: str, data: bytes, max_bytes: int, handlers: Mapping[str, Handler]
) -> dict[str, Any]:
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"{family}.{action} command is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    handler = handlers.get(action)
    if handler is None:
        known = ", ".join(handlers)
        raise UnknownCommandError(f"unknown {family} command '{action}'; known: {known}")
    return await handler(data)


def decode_body[T](data: bytes, type_: type[T], what: str) -> T:
    # An empty body is an empty object: `nats req jamjet.cmd.tenants.list ""` should work.
    return codec.decode(data.strip() or b"{}", type_, what=what)
