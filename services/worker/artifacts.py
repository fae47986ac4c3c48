"""Spilling a large node output to the artifacts bucket before its ``NodeCompleted`` is built.

An output whose canonical JSON is over ``JAMJET_ARTIFACT_THRESHOLD_BYTES`` (default 8 KiB) is stored
(``jamjet_common.artifacts``) before the outcome is claimed and appended, and the event carries the
``$artifact`` sentinel instead. The state patch always stays inline: the scheduler folds it into the
state. An output carrying the scheduler's routing keys (``chosen_target``, ``excluded_targets``) is
never spilled, whatever its size, since the scheduler reads them from the event. If the bucket cannot
be written the output stays inline (the event size check then decides whether it can be recorded).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from jamjet_common.artifacts import ArtifactRef, canonical_json
from jamjet_common.messages import WorkItem
from services.worker.executors import ExecutionResult

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD_BYTES = 8192
ROUTING_KEYS = ("chosen_target", "excluded_targets")


class ArtifactSink(Protocol):
    async def put(self, tenant: str, data: bytes) -> ArtifactRef:
        """Store the output as the execution's tenant's (only that tenant can read it back)."""
        ...


class OutputSpiller:
    def __init__(self, sink: ArtifactSink, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> None:
        self._sink = sink
        self._threshold = threshold_bytes

    async def spill(self, item: WorkItem, result: ExecutionResult) -> ExecutionResult:
        """``result`` with its output replaced by a sentinel if the output is too large to carry."""
        data = self._oversized(result.output)
        if data is None:
            return result
        try:
            ref = await self._sink.put(item.tenant, data)
        except Exception as exc:  # the output may still fit in the event
            logger.warning(
                "%s/%s: could not store a %d-byte output as an artifact (%r); keeping it inline",
                item.execution_id,
                item.node_id,
                len(data),
                exc,
            )
            return result
        logger.debug("%s/%s: output stored as artifact %s", item.execution_id, item.node_id, ref.hash)
        return dataclasses.replace(result, output=ref.sentinel())

    def _oversized(self, output: Any) -> bytes | None:
        if isinstance(output, dict) and any(key in output for key in ROUTING_KEYS):
            return None
        try:
            data = canonical_json(output)
        except (TypeError, ValueError):  # the event encoder will say what is wrong with it
            return None
        return data if len(data) > self._threshold else None
