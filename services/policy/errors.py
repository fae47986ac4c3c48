"""Error codes of the policy service's replies."""

from __future__ import annotations

from jamjet_common.errors import ConflictError, ContractError, NotFoundError


class UnknownTenantError(NotFoundError):
    code = "unknown_tenant"


class TenantExistsError(ConflictError):
    code = "tenant_exists"


class UnknownCommandError(ContractError):
    code = "unknown_command"


class UnknownAgentError(NotFoundError):
    code = "unknown_agent"


class AgentExistsError(ConflictError):
    code = "agent_exists"


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"
