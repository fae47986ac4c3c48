"""Chunks of a streamed agent response: NDJSON lines, or the ``data:`` of server-sent events.

Every chunk is a JSON object: a line that is not JSON becomes ``{"raw": line}`` (the original's rule),
JSON that is not an object becomes ``{"value": ...}``, blank lines and the ``[DONE]`` sentinel of
OpenAI-style streams are skipped.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

SSE_CONTENT_TYPE = "text/event-stream"
DONE = "[DONE]"


def parse_chunk(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped or stripped == DONE:
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


class SseDecoder:
    """Joins the ``data:`` lines of one event; an event ends at a blank line."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if not line:
            return self.flush()
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


async def chunks(lines: AsyncIterator[str], *, sse: bool = False) -> AsyncGenerator[dict[str, Any], None]:
    """Each chunk as soon as its line (or event) is complete."""
    decoder = SseDecoder() if sse else None
    async for line in lines:
        text = decoder.feed(line.rstrip("\r")) if decoder is not None else line
        chunk = parse_chunk(text) if text is not None else None
        if chunk is not None:
            yield chunk
    tail = decoder.flush() if decoder is not None else None
    chunk = parse_chunk(tail) if tail is not None else None
    if chunk is not None:
        yield chunk
