"""The workers as the runtime sees them: one shared pull consumer per queue type, and its activity."""

from __future__ import annotations

from typing import Any

from nats.js.api import ConsumerInfo
from starlette.responses import Response

from jamjet_common import streams
from services.gateway.http import Call, json_response


async def list_workers(call: Call) -> Response:
    consumers = await call.backend.js.consumers_info(streams.WORK)
    found = [_worker(c) for c in consumers if c.name.startswith(streams.WORKER_CONSUMER_PREFIX)]
    return json_response({"workers": sorted(found, key=lambda w: w["queue_type"])})


def _worker(info: ConsumerInfo) -> dict[str, Any]:
    return {
        "queue_type": info.name.removeprefix(streams.WORKER_CONSUMER_PREFIX),
        "consumer": info.name,
        "waiting_pulls": info.num_waiting or 0,
        "queued": info.num_pending or 0,
        "in_flight": info.num_ack_pending or 0,
        "redelivered": info.num_redelivered or 0,
        "last_active": info.delivered.last_active if info.delivered else None,
    }
