"""Query parameters, checked: a bad one is a 400 that names it."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request

from jamjet_common.errors import ContractError


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ContractError(f"query parameter {name} must be an integer", code=f"invalid_{name}") from None
    if not low <= value <= high:
        raise ContractError(
            f"query parameter {name} must be between {low} and {high}", code=f"invalid_{name}"
        )
    return value


def choice(request: Request, name: str, allowed: Sequence[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise ContractError(
            f"query parameter {name} must be one of {', '.join(allowed)}", code=f"invalid_{name}"
        )
    return raw


def flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ContractError(f"query parameter {name} must be true or false", code=f"invalid_{name}")


def text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw and any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise ContractError(
            f"query parameter {name} must not hold control characters", code="invalid_request"
        )
    return raw or None
