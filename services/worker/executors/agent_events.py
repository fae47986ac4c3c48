"""The events of one agent_tool attempt: published live as progress and kept for the node's state patch.

Each event is a JSON object in the original's shapes (``{"type": "agent_tool_progress", "node_id",
"chunk_index", "partial_output_summary", ...}``) plus ``execution_id``, ``attempt``, ``timestamp_ms``
and ``sequence``: 1, 2, 3... within the attempt, so a subscriber can tell order and gaps. Progress
events also carry the ``chunk`` itself when published.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from services.worker.progress import ProgressSink

SUMMARY_CHARS = 200
INVOKED = "agent_tool_invoked"
PROGRESS = "agent_tool_progress"
TURN = "agent_tool_turn"
COMPLETED = "agent_tool_completed"
TERMINATED = "agent_tool_terminated"
ERROR = "agent_tool_error"
EVENTS_KEY = "agent_tool_events"
"""The state key under which a node's events are recorded."""
LIVE_ONLY = frozenset({"chunk"})
"""Published but not recorded in the state: a long stream's chunks would outgrow an event, and the
assembled output (and the progress stream) already carry them."""


@dataclass(slots=True)
class AgentEventLog:
    sink: ProgressSink
    tenant: str
    execution_id: str
    node_id: str
    attempt: int
    events: list[dict[str, Any]] = field(default_factory=list)

    async def emit(self, event_type: str, **fields: Any) -> dict[str, Any]:
        event = {
            "type": event_type,
            "node_id": self.node_id,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "sequence": len(self.events) + 1,
            **fields,
            "timestamp_ms": now_ms(),
        }
        self.events.append({name: value for name, value in event.items() if name not in LIVE_ONLY})
        await self.sink.publish(self.tenant, self.execution_id, event)
        return event


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def elapsed_ms(started: float) -> int:
    """Milliseconds since ``started``, a ``time.monotonic()`` reading."""
    return int((time.monotonic() - started) * 1000)


def summarize(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def input_hash(value: Any) -> str:
    """16 hex digits identifying the input (canonical JSON), as the original's ``input_hash``."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
