"""``input_mapping`` of IR nodes: ``{"<argument>": "state.<path>"}`` picked from the execution state.

A value ``state`` (alone) is the whole state, ``state.a.b`` a path into it (numeric segments index
lists, a missing path is null); any other value is passed through as a literal string.
"""

from __future__ import annotations

from typing import Any

STATE = "state"


def map_input(mapping: dict[str, str], state: dict[str, Any]) -> dict[str, Any]:
    return {name: resolve(expression, state) for name, expression in mapping.items()}


def resolve(expression: str, state: dict[str, Any]) -> Any:
    expression = expression.strip()
    if expression == STATE:
        return state
    if not expression.startswith(STATE + "."):
        return expression
    value: Any = state
    for part in expression.split(".")[1:]:
        value = _step(value, part)
        if value is None:
            return None
    return value


def _step(value: Any, part: str) -> Any:
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    return None
