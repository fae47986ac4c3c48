"""The nodes each workflow version runs, for the fold's check of a dispatch: read from the workflows
table (versions are immutable) and kept. The table is filled by a consumer of its own, so under load an
execution's events can come before its version's row: such a version is read from the catalog bucket,
the table's source. Only a version the catalog does not hold either (never registered, or deleted) is
not checked."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import asyncpg
import msgspec
from nats.js.kv import KeyValue

from jamjet_common.errors import UnreadableRecordError
from jamjet_common.events import WorkflowStarted
from jamjet_common.ir import WorkflowIr
from jamjet_common.registered import registered_ir
from jamjet_common.validation import reachable
from services.event_store.rows import ExecutionRow, LogEntry

Version = tuple[str, str, str]
"""(tenant, workflow id, version)"""
KEPT = 1024

SELECT_IRS = """
SELECT k.tenant, k.workflow_id, k.version, w.ir
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant, workflow_id, version)
CROSS JOIN LATERAL (
    SELECT ir::text AS ir FROM workflows
    WHERE workflows.tenant = k.tenant AND workflows.workflow_id = k.workflow_id
      AND workflows.version = k.version
    LIMIT 1
) AS w
"""
IR_DECODER = msgspec.json.Decoder(WorkflowIr)


def version_of(row: ExecutionRow | None, entries: Mapping[int, LogEntry]) -> Version | None:
    """The workflow version an execution runs: its row's, or that of the WorkflowStarted in hand."""
    if row is not None:
        return row.tenant, row.workflow_id, row.workflow_version
    first = entries.get(1)
    if first is not None and isinstance(first.kind, WorkflowStarted):
        return first.tenant, first.kind.workflow_id, first.kind.workflow_version
    return None


class WorkflowNodes:
    def __init__(self, catalog: KeyValue | None = None, kept: int = KEPT) -> None:
        self._catalog = catalog
        self._kept = kept
        self._nodes: OrderedDict[Version, frozenset[str]] = OrderedDict()

    async def of(
        self, conn: asyncpg.Connection, versions: Iterable[Version]
    ) -> dict[Version, frozenset[str]]:
        wanted = set(versions)
        missing = sorted(wanted - self._nodes.keys())
        if missing:
            await self._from_table(conn, missing)
        for version in sorted(wanted - self._nodes.keys()):
            await self._from_catalog(version)
        return {v: self._nodes[v] for v in wanted if v in self._nodes}

    async def _from_table(self, conn: asyncpg.Connection, versions: list[Version]) -> None:
        records = await conn.fetch(SELECT_IRS, *[list(column) for column in zip(*versions, strict=True)])
        for r in records:
            with contextlib.suppress(msgspec.DecodeError):  # not an IR this version reads: no check
                self._keep((r["tenant"], r["workflow_id"], r["version"]), IR_DECODER.decode(r["ir"]))

    async def _from_catalog(self, version: Version) -> None:
        if self._catalog is None:
            return
        try:
            ir = await registered_ir(self._catalog, *version)
        except UnreadableRecordError:
            return
        if ir is not None:
            self._keep(version, ir)

    def _keep(self, version: Version, ir: WorkflowIr) -> None:
        self._nodes[version] = frozenset(reachable(ir))
        if len(self._nodes) > self._kept:
            self._nodes.popitem(last=False)
