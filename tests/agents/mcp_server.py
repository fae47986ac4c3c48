"""A tiny MCP server for the mcp_tool tests: ``python -m tests.agents.mcp_server`` serves it over stdio."""

from __future__ import annotations

import os
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def profile(name: str) -> dict[str, Any]:
    """A structured answer."""
    return {"name": name, "length": len(name)}


def pid() -> int:
    """The serving process: tells a reused session from a new one."""
    return os.getpid()


def refuse(reason: str) -> str:
    """Fails the way a tool says no: a result flagged isError."""
    raise ToolError(reason)


def crash() -> str:
    """Kills the server process mid-call: the connection breaks."""
    os._exit(3)


def build_server() -> MCPServer:
    """A fresh server: an HTTP app's session manager runs once per server instance."""
    server: MCPServer = MCPServer("jamjet-test-tools")
    for tool in (add, echo, profile, pid, refuse, crash):
        server.add_tool(tool)
    return server


if __name__ == "__main__":
    build_server().run()
