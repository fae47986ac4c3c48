"""RFC 7396 JSON merge patch, the rule by which node state patches fold into execution state."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with ``patch`` applied; ``target`` is not modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def merge_into(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an object ``patch`` to ``target`` in place (top level only copies nested values)."""
    if not isinstance(patch, dict):
        return target
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target
