"""The error of a sandbox refusal: fatal, and recorded as a ``policy_violation`` with its rule."""

from __future__ import annotations

from jamjet_common.errors import FatalError

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
