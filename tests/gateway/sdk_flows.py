"""A workflow written with the ``jamjet`` SDK's decorators, registered through the typed client."""

from __future__ import annotations

from typing import Any

from jamjet.workflow.workflow import Workflow
from pydantic import BaseModel

flow = Workflow("sdk_flow", version="1.0.0")


@flow.state
class Counter(BaseModel):
    n: int = 0


@flow.step
def bump(state: dict[str, Any]) -> dict[str, Any]:
    return {"n": int(state.get("n", 0)) + 1}


@flow.step
def twice(state: dict[str, Any]) -> dict[str, Any]:
    return {"n": int(state.get("n", 0)) * 2}
