"""A spilled output is its tenant's artifact: another tenant that knows the hash cannot read it."""

from __future__ import annotations

import pytest

from jamjet_common import subjects
from jamjet_common.artifacts import canonical_json, content_hash
from tests.artifacts.fns import big_output
from tests.artifacts.test_spill_flow import completed, spilling_workflow
from tests.helpers import eventually
from tests.security.conftest import TENANTS, Secured, clients, four_services
from tests.security.support import ask, ok

pytestmark = pytest.mark.e2e


async def test_another_tenant_cannot_read_an_artifact_by_its_hash(secured: Secured) -> None:
    digest = content_hash(canonical_json(big_output()))
    async with four_services(secured), clients(secured, "operator", *TENANTS) as (op, acme, globex):
        for tenant in TENANTS:
            await ok(op, subjects.tenant_cmd("create"), {"id": tenant})
        await ok(acme, subjects.CMD_REGISTER, {"ir": spilling_workflow()})
        started = await ok(acme, subjects.CMD_START, {"workflow_id": "spill"})

        async def finished() -> bool:
            answer = await ask(acme, subjects.store("execution"), {"execution_id": started["execution_id"]})
            return bool(answer.get("ok")) and answer["execution"]["status"] == "completed"

        await eventually(finished, timeout=60, message="acme's spilling execution did not complete")
        events = await ok(acme, subjects.store("events"), {"execution_id": started["execution_id"]})
        assert completed(events["events"], "big")["output"] == big_output(), "resolved for its owner"
        assert (await ok(acme, subjects.store("artifact"), {"hash": digest}))["value"] == big_output()

        crossed = await ask(globex, subjects.store("artifact"), {"hash": digest})
        assert crossed["error"]["code"] == "unknown_artifact", crossed
        forged = await ask(globex, subjects.store("artifact"), {"hash": digest, "tenant": "acme"})
        assert forged["error"]["code"] == "tenant_mismatch", forged
        # A trusted client reads a tenant's artifact only by naming that tenant.
        assert (await ask(op, subjects.store("artifact"), {"hash": digest}))["error"]["code"] == (
            "unknown_artifact"
        )
        assert (await ok(op, subjects.store("artifact"), {"hash": digest, "tenant": "acme"}))["ok"]
    assert "Violation" not in secured.server.output, secured.server.output
