"""The workflow catalog: registered IR versions in the jamjet_workflows KV bucket, compiled and cached.

Keys are ``<tenant>.<workflow_id>.v.<version>`` (immutable once written) and a
``<tenant>.<workflow_id>.latest`` pointer to the highest version.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.codec import decode, decoder, encode
from jamjet_common.errors import ConflictError, ContractError, UnknownWorkflowError
from jamjet_common.ir import WorkflowIr
from jamjet_common.messages import LatestVersion, WorkflowRecord
from jamjet_common.streams import KV_WORKFLOWS
from jamjet_common.streams import workflow_key as record_key
from jamjet_common.validation import validate_workflow
from services.scheduler.graph import Graph

logger = logging.getLogger(__name__)
_SEMVER_CORE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key: numeric core, then release above pre-release, then the rest as text."""
    match = _SEMVER_CORE.match(version)
    core = tuple(int(g) for g in match.groups()) if match else (0, 0, 0)
    release = 0 if "-" in version.split("+")[0] else 1
    return core[0], core[1], core[2], release, version


def latest_key(tenant: str, workflow_id: str) -> str:
    return f"{tenant}.{workflow_id}.latest"


def parse_ir(raw: bytes) -> WorkflowIr:
    """Decode and validate an IR, raising an ``invalid_ir`` error that says what is wrong."""
    try:
        ir = decode(raw, WorkflowIr, what="workflow IR")
    except ContractError as exc:
        raise ContractError(str(exc), code="invalid_ir") from exc
    validate_workflow(ir)
    return ir


class WorkflowCatalog:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._kv: KeyValue | None = None
        self._graphs: dict[tuple[str, str, str], Graph] = {}

    async def open(self) -> None:
        self._kv = await self._js.key_value(KV_WORKFLOWS)

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "catalog not opened"
        return self._kv

    async def register(self, tenant: str, raw_ir: bytes) -> tuple[WorkflowIr, bool]:
        """Store a new version; re-registering identical content is a no-op, different content a conflict."""
        ir = parse_ir(raw_ir)
        record = WorkflowRecord(
            tenant=tenant,
            workflow_id=ir.workflow_id,
            version=ir.version,
            ir=msgspec.Raw(encode(ir)),
            registered_at=datetime.now(UTC),
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
            return ir, False
        await self._raise_latest(tenant, ir.workflow_id, ir.version)
        return ir, True

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
            current = decoder(LatestVersion).decode(entry.value or b"{}").version
            if version_key(current) >= version_key(version):
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
        try:
            entry = await self.kv.get(record_key(tenant, workflow_id, version))
        except KeyNotFoundError:
            raise UnknownWorkflowError(
                f"workflow '{workflow_id}' version {version} is not registered for tenant '{tenant}'"
            ) from None
        record = decoder(WorkflowRecord).decode(entry.value or b"")
        graph = Graph.compile(decoder(WorkflowIr).decode(record.ir))
        self._graphs[(tenant, workflow_id, version)] = graph
        return graph

    async def _latest(self, tenant: str, workflow_id: str) -> str:
        try:
            entry = await self.kv.get(latest_key(tenant, workflow_id))
        except KeyNotFoundError:
            raise UnknownWorkflowError(
                f"workflow '{workflow_id}' is not registered for tenant '{tenant}'"
            ) from None
        return decoder(LatestVersion).decode(entry.value or b"").version
