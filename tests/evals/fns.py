"""Functions the eval tests import by name: custom scorers and python_fn nodes."""

from __future__ import annotations

from typing import Any


def long_enough(value: Any, *, min_chars: int = 1) -> bool:
    return len(str(value.get("answer", ""))) >= min_chars


async def graded(value: Any, *, passing: float) -> dict[str, Any]:
    grade = float(value.get("grade", 0))
    return {"passed": grade >= passing, "score": grade, "message": f"grade {grade} vs {passing}"}


def answer(state: dict[str, Any]) -> dict[str, Any]:
    return {"answer": "forty-two", "grade": 0.4, "latency_ms": 120}


def after(state: dict[str, Any]) -> dict[str, Any]:
    return {"after_ran": True}
