"""Workflows written with the SDK's ``Workflow`` decorator, as its README shows (module level, so the
worker can import the steps)."""

from __future__ import annotations

from typing import Any

from jamjet import Workflow
from jamjet.workflow.ir_compiler import compile_to_ir
from jamjet.workflow.types import WorkflowDef
from pydantic import BaseModel

ATTEMPTS: dict[str, int] = {}


def workflow_ir(wf: Workflow) -> dict[str, Any]:
    """The runtime IR of a decorator workflow (``Workflow.compile()`` returns the SDK's own spec)."""
    definition = WorkflowDef(
        workflow_id=wf.workflow_id,
        version=wf.version,
        state_schema=f"{wf._state_class.__module__}.{wf._state_class.__name__}" if wf._state_class else "",
        start_node=wf._start or wf._steps[0].name,
        steps=wf._steps,
    )
    return compile_to_ir(definition)


# ---- a pydantic-state pipeline: next, human_approval, timeout, retry_policy ----------------------------

review = Workflow("doc review", version="1.0")


@review.state
class ReviewState(BaseModel):
    text: str
    words: int = 0
    summary: str | None = None
    tries: int = 0


@review.step(timeout="30s", retry_policy="fast")
async def count(state: ReviewState) -> ReviewState:
    ATTEMPTS["count"] = ATTEMPTS.get("count", 0) + 1
    if ATTEMPTS["count"] < 3:
        raise ConnectionError("flaky counter")
    return state.model_copy(update={"words": len(state.text.split()), "tries": ATTEMPTS["count"]})


@review.step(human_approval=True, timeout="1h")
async def sign_off(state: ReviewState) -> ReviewState:
    return state


@review.step(next={"summarize": lambda s: True})
def shout(state: ReviewState) -> ReviewState:
    return state.model_copy(update={"text": state.text.upper()})


@review.step
async def summarize(state: ReviewState) -> ReviewState:
    return state.model_copy(update={"summary": f"{state.words} words: {state.text[:11]}"})


# ---- steps defined in a class ---------------------------------------------------------------------------

extraction = Workflow("acme.extraction")


@extraction.state
class Doc(BaseModel):
    raw: str
    fields: dict[str, str] = {}


class Pipeline:
    @staticmethod
    @extraction.step
    def extract(state: Doc) -> Doc:
        key, _, value = state.raw.partition("=")
        return state.model_copy(update={"fields": {key: value}})

    @extraction.step
    async def tag(state: Doc) -> dict[str, Any]:
        return {"tagged": True}
