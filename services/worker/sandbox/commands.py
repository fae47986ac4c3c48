"""Which executables an ``mcp_tool`` stdio server may be (``JAMJET_MCP_ALLOWED_COMMANDS``).

A command is matched on the executable it resolves to (``PATH`` lookup, then symlinks), and the server
is started with the path found on ``PATH`` (not the symlink's target: a virtualenv's interpreter is
known by its own path) and its arguments, never through a shell. Shells and launchers that
run any other program (``sh``, ``bash``, ``env``, ``sudo``...) are refused unless the allowlist names
them. Unset, no stdio server may start, unless in dev mode (any command but those).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from jamjet_common.config import ConfigError
from services.worker.sandbox.refusal import MCP_COMMAND, Refused, unconfigured

ALLOWLIST_VARIABLE = "JAMJET_MCP_ALLOWED_COMMANDS"
LAUNCHERS = frozenset(
    {
        "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "env",
        "sudo", "su", "doas", "xargs", "nohup", "setsid", "timeout", "nice", "ionice", "stdbuf", "chroot",
        "script", "expect", "time", "strace", "watch",
    }
)  # fmt: skip


def found(command: str) -> str | None:
    """The absolute path of the executable ``command`` names, as the OS would start it; None if none."""
    path = shutil.which(command)
    return os.path.abspath(path) if path else None


def resolve(command: str) -> str | None:
    """The executable ``command`` names, symlinks resolved: what actually runs."""
    path = found(command)
    return os.path.realpath(path) if path else None


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    allowed: frozenset[str] | None = None
    """Resolved executables; None: the allowlist variable is unset."""
    dev_mode: bool = False

    @classmethod
    def from_entries(cls, entries: tuple[str, ...] | None, dev_mode: bool) -> CommandPolicy:
        if entries is None:
            return cls(None, dev_mode)
        return cls(frozenset(_resolve_entry(entry) for entry in entries), dev_mode)

    def executable(self, command: str, server: str) -> str:
        """The path to start for ``command``, or ``Refused``."""
        start = found(command)
        path = os.path.realpath(start) if start else None
        if self.allowed is None and not self.dev_mode:
            raise unconfigured(f"MCP server '{server}': command {command!r}", ALLOWLIST_VARIABLE, MCP_COMMAND)
        if start is None and self.allowed is None:
            return command  # dev mode: the start fails as any connection does
        if start is None or path is None or not self._permits({command, start, path}, path):
            raise Refused(
                f"MCP server '{server}': command {command!r} (resolved: {path or 'not found'}) is not in "
                f"{ALLOWLIST_VARIABLE}",
                rule=MCP_COMMAND,
            )
        return start

    def _permits(self, names: set[str], path: str) -> bool:
        if self.allowed is not None:
            return path in self.allowed
        return not {os.path.basename(name) for name in names} & LAUNCHERS


def _resolve_entry(entry: str) -> str:
    path = resolve(entry)
    if path is None:
        raise ConfigError(f"{ALLOWLIST_VARIABLE}: {entry!r} is not an executable on this worker's PATH")
    return path
