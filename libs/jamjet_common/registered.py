"""Reading a registered workflow version from the catalog bucket (``jamjet_workflows``), the one source
the scheduler compiles from and the worker and the event store check dispatches against."""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from jamjet_common.catalog import record_key
from jamjet_common.ir import WorkflowIr
from jamjet_common.records import WorkflowRecord, read_record
from jamjet_common.streams import KV_WORKFLOWS


async def registered_ir(kv: KeyValue, tenant: str, workflow_id: str, version: str) -> WorkflowIr | None:
    """The IR of that version; None if it is not registered (or was deleted). An entry that does not
    fit its schema raises ``unreadable_record``."""
    key = record_key(tenant, workflow_id, version)
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    record = read_record(KV_WORKFLOWS, key, entry.value or b"", WorkflowRecord)
    return read_record(KV_WORKFLOWS, key, bytes(record.ir), WorkflowIr)
