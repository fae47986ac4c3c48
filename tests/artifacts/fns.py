"""python_fn nodes of the artifact tests: one output far over the 8 KiB threshold, one far under."""

from __future__ import annotations

from typing import Any

ROWS = 160


def big_output() -> dict[str, Any]:
    """About 20 KiB of JSON, the same every time."""
    return {
        "rows": [{"i": i, "text": f"row {i:04d} " + "lorem ipsum dolor sit amet " * 4} for i in range(ROWS)]
    }


def big(state: dict[str, Any]) -> dict[str, Any]:
    return big_output()


def small(state: dict[str, Any]) -> dict[str, Any]:
    return {"small": True}
