"""What tenant IR may make a worker do: which Python modules, MCP commands, secrets and hosts.

Everything here is refused unless the operator allowed it (``config.py``); a refusal is a ``Refused``
error, which ends the node with a terminal ``node_failed`` and a ``policy_violation``.
"""

from services.worker.sandbox.config import SandboxConfig
from services.worker.sandbox.refusal import Refused

__all__ = ["Refused", "SandboxConfig"]
