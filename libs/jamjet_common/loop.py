"""The event loop every service process runs on: uvloop.

uvloop's transports and scheduling are written in C; per message a service spends less of its CPU in
the loop and in socket writes than on asyncio's pure-Python selector loop (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import uvloop


def run[T](main: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(main, loop_factory=uvloop.new_event_loop)
