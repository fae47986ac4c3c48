"""``input_mapping`` of IR nodes: ``{"<argument>": "state.<path>"}`` picked from the execution state.

A value ``state`` (alone) is the whole state, ``state.a.b`` a path into it (numeric segments index
lists, a missing path is null). A string with ``{{ state.a.b }}`` placeholders (the SDK's YAML
``input:``) is rendered as prompts are, except that a value that is one placeholder and nothing else
is the value it names (a number stays a number). Anything else is passed through as it is.
"""

from __future__ import annotations

from typing import Any

STATE = "state"


def map_input(mapping: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    # Imported here: templates builds on resolve() below.
    from services.worker.executors.templates import fill

    return {name: fill(expression, state) for name, expression in mapping.items()}


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
