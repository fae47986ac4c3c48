"""The workflow catalog: registered IR versions in the jamjet_workflows KV bucket, compiled and cached.

Keys (``jamjet_common.catalog``) are ``<tenant>.<workflow id>.v.<version>`` (immutable once written)
and a ``<tenant>.<workflow id>.latest`` pointer, moved by ``catalog.supersedes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.catalog import latest_key, record_key, supersedes
from jamjet_common.coalesce import Coalesced
from jamjet_common.codec import decode, encode
from jamjet_common.errors import ConflictError, ContractError, UnknownWorkflowError
from jamjet_common.ir import WorkflowIr
from jamjet_common.records import LatestVersion, WorkflowRecord, read_record
from jamjet_common.registered import registered_ir
from jamjet_common.streams import KV_WORKFLOWS
from jamjet_common.validation import validate_workflow
from services.scheduler.graph import Graph

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Registered:
    ir: WorkflowIr
    created: bool
    warnings: list[str]


def parse_ir(raw: bytes) -> tuple[WorkflowIr, list[str]]:
    """Decode and validate an IR, raising an ``invalid_ir`` error that says what is wrong; the warnings."""
    try:
        ir = decode(raw, WorkflowIr, what="workflow IR")
    except ContractError as exc:
        raise ContractError(str(exc), code="invalid_ir") from exc
    return ir, validate_workflow(ir)


class WorkflowCatalog:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._kv: KeyValue | None = None
        self._graphs: dict[tuple[str, str, str], Graph] = {}
        self._latest_reads: Coalesced[str, KeyValue.Entry] = Coalesced(lambda key: self.kv.get(key))

    async def open(self) -> None:
        self._kv = await self._js.key_value(KV_WORKFLOWS)

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "catalog not opened"
        return self._kv

    async def register(self, tenant: str, raw_ir: bytes) -> Registered:
        """Store a new version; re-registering identical content is a no-op, different content a conflict."""
        ir, warnings = parse_ir(raw_ir)
        record = WorkflowRecord(
            tenant=tenant,
            workflow_id=ir.workflow_id,
            version=ir.version,
            ir=msgspec.Raw(encode(ir)),
            registered_at=datetime.now(UTC),
            warnings=warnings,
        )
        key = record_key(tenant, ir.workflow_id, ir.version)
        try:
            await self.kv.create(key, encode(record))
        except KeyWrongLastSequenceError:
            existing = await self.get(tenant, ir.workflow_id, ir.version)
            if existing.ir != ir:
                raise ConflictError(
                    f"workflow '{ir.workflow_id}' version {ir.version} is already registered with "
                    "different content; register a new version",
                    code="version_conflict",
                ) from None
            return Registered(ir, False, warnings)
        await self._raise_latest(tenant, ir.workflow_id, ir.version)
        return Registered(ir, True, warnings)

    async def _raise_latest(self, tenant: str, workflow_id: str, version: str) -> None:
        key = latest_key(tenant, workflow_id)
        value = encode(LatestVersion(version=version))
        for _ in range(20):
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                try:
                    await self.kv.create(key, value)
                    return
                except KeyWrongLastSequenceError:
                    continue
            current = read_record(KV_WORKFLOWS, key, entry.value or b"", LatestVersion).version
            if not supersedes(version, current):
                return
            try:
                await self.kv.update(key, value, last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue
        logger.warning("could not move %s to %s under contention", key, version)

    async def get(self, tenant: str, workflow_id: str, version: str | None) -> Graph:
        if version is None:
            version = await self._latest(tenant, workflow_id)
        cached = self._graphs.get((tenant, workflow_id, version))
        if cached is not None:
            return cached
        ir = await registered_ir(self.kv, tenant, workflow_id, version)
        if ir is None:
            raise UnknownWorkflowError(
                f"workflow '{workflow_id}' version {version} is not registered for tenant '{tenant}'"
            )
        graph = Graph.compile(ir)
        self._graphs[(tenant, workflow_id, version)] = graph
        return graph

    async def _latest(self, tenant: str, workflow_id: str) -> str:
        key = latest_key(tenant, workflow_id)
        try:
            entry = await self._latest_reads.get(key)
        except KeyNotFoundError:
            raise UnknownWorkflowError(
                f"workflow '{workflow_id}' is not registered for tenant '{tenant}'"
            ) from None
        return read_record(KV_WORKFLOWS, key, entry.value or b"", LatestVersion).version
