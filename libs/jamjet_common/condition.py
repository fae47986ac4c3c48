"""The condition-branch expression language of the original runtime.

Grammar: ``state.a.b`` (truthiness), ``state.a.b == <JSON literal>``, ``state.a.b != <JSON literal>``.
A missing path is null, numeric segments index arrays, equality is typed (``"5" != 5``), and anything
malformed evaluates to false.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def eval_condition(expr: str, state: Any) -> bool:
    expr = expr.strip()
    for op in ("==", "!="):
        left, sep, right = expr.partition(op)
        if sep:
            return _compare(left.strip(), op, right.strip(), state)
    value = _resolve(expr, state)
    return value is not _MISSING and _truthy(value)


def _compare(path: str, op: str, literal: str, state: Any) -> bool:
    value = _resolve(path, state)
    if value is _MISSING and not _is_path(path):
        return False
    try:
        expected = json.loads(literal)
    except ValueError:
        return False
    actual = None if value is _MISSING else value
    equal = _typed_equal(actual, expected)
    return equal if op == "==" else not equal


def _is_path(path: str) -> bool:
    parts = path.split(".")
    return len(parts) >= 2 and parts[0] == "state" and all(parts[1:])


def _resolve(path: str, state: Any) -> Any:
    if not _is_path(path):
        return _MISSING
    value = state
    for part in path.split(".")[1:]:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def _typed_equal(a: Any, b: Any) -> bool:
    # bool is an int in Python; JSON keeps them apart, and so must we.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})
