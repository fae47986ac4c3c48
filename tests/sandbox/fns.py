"""Functions an operator might allow, and what a tenant could try to reach through them."""

from __future__ import annotations

from subprocess import run  # a name another module lends: never callable as tests.sandbox.fns.run
from typing import Any

__all__ = ["echo", "run"]


def echo(state: dict[str, Any]) -> dict[str, Any]:
    return {"echoed": sorted(state)}
