"""Small SDK workflows for the registration tests: versions, and a step nothing leads to."""

from __future__ import annotations

from typing import Any

from jamjet import Workflow
from pydantic import BaseModel

from tests.sdk.steps import workflow_ir


class Counter(BaseModel):
    n: int = 0


async def bump(state: Counter) -> Counter:
    return state.model_copy(update={"n": state.n + 1})


def versioned(version: str) -> dict[str, Any]:
    wf = Workflow("acme.versions", version=version)
    wf.state(Counter)
    wf.step(bump)
    return workflow_ir(wf)


skipping = Workflow("skipping")
skipping.state(Counter)
RAN: list[str] = []


@skipping.step(next={"last": lambda s: True})
def first(state: Counter) -> Counter:
    RAN.append("first")
    return state


@skipping.step
def orphan(state: Counter) -> Counter:
    RAN.append("orphan")
    return state


@skipping.step
def last(state: Counter) -> Counter:
    RAN.append("last")
    return state
