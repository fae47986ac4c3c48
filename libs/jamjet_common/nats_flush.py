"""nats-py's flusher, writing one turn of the loop later, so that more publishes share each write.

nats-py queues a publish and wakes its flusher task, which writes whatever is pending when it runs: the
publishes made before it in the same turn of the event loop. A publish made by a task woken in that
same turn (by the same batch of messages read off the socket, say) comes just after, and takes a write
of its own. Socket writes were 12-15% of the scheduler's and the worker's samples under load. Waiting
one more turn before writing lets those join: W1 -4 to -5% a step, W2 +1 to +5% steps/s, CPU -3 to -4%
(interleaved stacks, docs/benchmarks.md). What it costs is one turn of the loop, microseconds.

Installed by ``jamjet_common.bus`` on nats-py's ``Client``; the body is nats-py 2.x's own but for that
turn, so a nats-py without ``_flusher`` is left as it is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client

NATS_PY_FLUSHER = getattr(Client, "_flusher", None)


async def flusher(self: Any) -> None:
    """``Client._flusher`` with one turn of the loop between the wake and the write."""
    while self.is_connected and not self.is_connecting:
        future: asyncio.Future[None] = await self._flush_queue.get()
        try:
            await asyncio.sleep(0)  # the turn: publishes of tasks woken with this one join the write
            if self._pending_data_size > 0:
                self._transport.writelines(self._pending[:])
                self._pending = []
                self._pending_data_size = 0
                await self._transport.drain()
        except OSError as exc:
            await self._error_cb(exc)
            await self._process_op_err(exc)
            break
        except (asyncio.CancelledError, RuntimeError, AttributeError):
            break  # the loop closed, or the transport went with the connection
        finally:
            if not future.done():
                future.set_result(None)


def install() -> None:
    """Flush every client's publishes with ``flusher`` (where nats-py has one to replace)."""
    if NATS_PY_FLUSHER is not None:
        Client._flusher = flusher  # type: ignore[method-assign]
