"""The error of a sandbox refusal: fatal, and recorded as a ``policy_violation`` with its rule."""

from __future__ import annotations

from jamjet_common.errors import FatalError

DEV_MODE_VARIABLE = "JAMJET_DEV_MODE"
SCOPE = "worker_sandbox"
"""The ``policy_scope`` of the violations the worker's sandbox records."""

PYTHON_MODULE = "python_module_not_allowed"
MCP_COMMAND = "mcp_command_not_allowed"
SECRET = "secret_not_mapped"
HOST = "host_not_allowed"
ADDRESS = "address_refused"


class Refused(FatalError):
    """The IR asked for something the operator did not allow; ``rule`` says which kind of thing."""

    code = "sandbox_refused"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def unconfigured(what: str, variable: str, rule: str) -> Refused:
    """The refusal of everything of a kind when the operator did not configure an allowlist for it."""
    return Refused(
        f"{what} refused: {variable} is not set on this worker, so none may run "
        f"({DEV_MODE_VARIABLE}=1 lifts this on a development machine)",
        rule=rule,
    )
