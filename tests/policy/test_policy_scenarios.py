"""The original's "healthcare workflow" and "tenant policy" scenarios, through the running service.

The original's hospital-wide ("global") policy is the hospital tenant's policy here: it applies to
every execution of the tenant, below the workflow's and the node's policies.
"""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.policy.service import PolicyService
from tests.policy.support import evaluate, model_node, tenant_command, tool_node

HOSPITAL_POLICY = {
    "blocked_tools": ["delete_patient_record", "delete_*", "export_phi_bulk"],
    "require_approval_for": ["prescribe_medication", "order_lab_*", "discharge_patient"],
    "model_allowlist": ["claude-sonnet-4-6", "claude-haiku-4-5-20251001"],
}
INTAKE_POLICY = {"blocked_tools": ["modify_insurance_claim"], "require_approval_for": ["schedule_surgery"]}
TRIAGE_POLICY = {"model_allowlist": ["claude-sonnet-4-6", "ft-triage-v3"]}


async def tenant(nc: NATS, tenant_id: str, policy: dict[str, Any] | None) -> None:
    reply = await tenant_command(nc, "create", {"id": tenant_id, "policy": policy})
    assert reply["ok"] is True, reply


@pytest.fixture
async def hospital(policy: PolicyService, nc: NATS) -> str:
    await tenant(nc, "hospital", HOSPITAL_POLICY)
    return "hospital"


async def intake(nc: NATS, node: dict[str, Any]) -> dict[str, Any]:
    """A node of the patient intake workflow, run by the hospital."""
    return await evaluate(nc, node, tenant="hospital", workflow_policy=INTAKE_POLICY)


# ---- healthcare workflow --------------------------------------------------------------------------------


async def test_agent_cannot_delete_patient_records(hospital: str, nc: NATS) -> None:
    reply = await intake(nc, tool_node("delete_patient_record", "discharge_summary_agent"))
    assert reply["decision"] == "block"
    assert reply["reason"] == "tool 'delete_patient_record' matches blocked pattern 'delete_patient_record'"
    assert reply["policy_scope"] == "tenant"


@pytest.mark.parametrize("tool", ["delete_appointment", "delete_insurance_record", "delete_test_results"])
async def test_wildcard_blocks_catch_novel_deletion_tools(hospital: str, nc: NATS, tool: str) -> None:
    reply = await intake(nc, tool_node(tool))
    assert reply["decision"] == "block"
    assert reply["reason"] == f"tool '{tool}' matches blocked pattern 'delete_*'"


async def test_prescription_requires_pharmacist_approval(hospital: str, nc: NATS) -> None:
    reply = await intake(nc, tool_node("prescribe_medication", "medication_review_agent"))
    assert reply["decision"] == "require_approval"
    assert reply["approver"] == "human"
    assert reply["tool_name"] == "prescribe_medication"


@pytest.mark.parametrize("tool", ["order_lab_cbc", "order_lab_metabolic_panel", "order_lab_urinalysis"])
async def test_lab_orders_all_require_approval(hospital: str, nc: NATS, tool: str) -> None:
    assert (await intake(nc, tool_node(tool)))["decision"] == "require_approval"


async def test_unapproved_model_blocked(hospital: str, nc: NATS) -> None:
    reply = await intake(nc, model_node("gpt-4o", "symptom_analysis"))
    assert reply["decision"] == "block"
    assert reply["reason"] == "model 'gpt-4o' is not in the allowlist"
    assert reply["policy_scope"] == "tenant"


async def test_approved_model_proceeds(hospital: str, nc: NATS) -> None:
    assert (await intake(nc, model_node("claude-sonnet-4-6")))["decision"] == "allow"


async def test_triage_node_allows_its_fine_tuned_model_only_there(hospital: str, nc: NATS) -> None:
    triage = {**model_node("ft-triage-v3", "triage_assessment"), "policy": TRIAGE_POLICY}
    assert (await intake(nc, triage))["decision"] == "allow"
    elsewhere = await intake(nc, model_node("ft-triage-v3", "discharge_summary"))
    assert elsewhere["decision"] == "block"
    assert elsewhere["policy_scope"] == "tenant"


async def test_workflow_policy_adds_restrictions(hospital: str, nc: NATS) -> None:
    reply = await intake(nc, tool_node("modify_insurance_claim"))
    assert reply["decision"] == "block"
    assert reply["policy_scope"] == "workflow"
    # The same tool in another of the hospital's workflows is not restricted.
    assert (await evaluate(nc, tool_node("modify_insurance_claim"), tenant="hospital"))["decision"] == "allow"


@pytest.mark.parametrize("tool", ["lookup_patient", "check_insurance_status", "schedule_appointment"])
async def test_safe_tools_pass_through_all_layers(hospital: str, nc: NATS, tool: str) -> None:
    assert await intake(nc, tool_node(tool)) == {"ok": True, "decision": "allow", "tool_name": tool}


# ---- tenant policy --------------------------------------------------------------------------------------


async def test_tenant_blocks_a_tool_for_all_its_executions(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", {"blocked_tools": ["dangerous_tool"]})
    await tenant(nc, "globex", None)
    node = tool_node("dangerous_tool")
    for workflow_policy in (None, {}, {"require_approval_for": ["other_*"]}):
        reply = await evaluate(nc, node, tenant="acme", workflow_policy=workflow_policy)
        assert reply["decision"] == "block", workflow_policy
        assert reply["policy_scope"] == "tenant"
    assert (await evaluate(nc, node, tenant="globex"))["decision"] == "allow", "another tenant is affected"


async def test_tenant_block_with_node_approval_override(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", {"blocked_tools": ["tool_a"]})
    node = {**tool_node("tool_a"), "policy": {"require_approval_for": ["tool_a"]}}
    reply = await evaluate(nc, node, tenant="acme")
    assert reply["decision"] == "require_approval"
    assert reply["policy_scope"] == "node"


async def test_tenant_glob_blocks_through_empty_workflow_and_node_sets(
    policy: PolicyService, nc: NATS
) -> None:
    await tenant(nc, "acme", {"blocked_tools": ["delete_*"]})
    node = {**tool_node("delete_user"), "policy": {}}
    reply = await evaluate(nc, node, tenant="acme", workflow_policy={})
    assert reply["decision"] == "block"
    assert reply["reason"] == "tool 'delete_user' matches blocked pattern 'delete_*'"
    assert reply["policy_scope"] == "tenant"


async def test_workflow_overrides_tenant_block_with_approval(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", {"blocked_tools": ["deploy_*"]})
    reply = await evaluate(
        nc, tool_node("deploy_staging"), tenant="acme", workflow_policy={"require_approval_for": ["deploy_*"]}
    )
    assert reply["decision"] == "require_approval"
    assert reply["policy_scope"] == "workflow"


async def test_tenant_model_allowlist(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", {"model_allowlist": ["claude-*"]})
    blocked = await evaluate(nc, model_node("gpt-4"), tenant="acme", workflow_policy={"model_allowlist": []})
    assert blocked["decision"] == "block"
    assert blocked["policy_scope"] == "tenant"
    assert (await evaluate(nc, model_node("claude-3-opus"), tenant="acme"))["decision"] == "allow"


async def test_empty_tenant_policy_allows_everything(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", {"blocked_tools": [], "require_approval_for": [], "model_allowlist": []})
    assert (await evaluate(nc, tool_node("any_tool"), tenant="acme", workflow_policy={}))[
        "decision"
    ] == "allow"
    assert (await evaluate(nc, model_node("any-model"), tenant="acme"))["decision"] == "allow"


async def test_suspended_tenant_blocks_every_node(policy: PolicyService, nc: NATS) -> None:
    await tenant(nc, "acme", None)
    assert (await tenant_command(nc, "suspend", {"id": "acme"}))["ok"] is True
    for node in (tool_node("lookup"), model_node("claude-3-opus")):
        reply = await evaluate(nc, node, tenant="acme", workflow_policy={"model_allowlist": ["*"]})
        assert reply["decision"] == "block"
        assert reply["reason"] == "tenant 'acme' is suspended"
        assert reply["policy_scope"] == "tenant"
