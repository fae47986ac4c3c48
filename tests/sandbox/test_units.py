"""The sandbox's rules on their own: module names, address classes, commands, secrets, remote auth."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import pytest

from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import FatalError
from jamjet_common.ir import BearerAuth, McpServerConfig
from services.worker.executors.mcp_sessions import McpSessions
from services.worker.executors.mcp_tool import McpToolExecutor
from services.worker.executors.remote_auth import auth_headers
from services.worker.sandbox import Refused, SandboxConfig
from services.worker.sandbox.commands import CommandPolicy
from services.worker.sandbox.network import HostGuard
from services.worker.sandbox.python_modules import ModulePolicy
from services.worker.sandbox.secrets import SecretMap, Secrets
from tests.agents.builders import context, mcp_node
from tests.executors.fake_http import FakeHttpServer

# ---- python modules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "module", "permitted"),
    [
        (("app",), "app", True),
        (("app",), "app.tools", True),
        (("app",), "apple", False),
        (("app.",), "app.tools", True),
        (("os",), "os", True),  # named exactly: the operator's choice
        (("os",), "os.path", False),
        (("os",), "os_helpers", False),
        (("os_helpers",), "os", False),
        (("importlib",), "importlib.util", False),
        (("",), "subprocess", False),
        ((".",), "builtins", False),
        (None, "subprocess", False),
        (None, "_posixsubprocess", False),
        (None, "app.tools", True),
    ],
)
def test_module_permission(allowed: tuple[str, ...] | None, module: str, permitted: bool) -> None:
    assert ModulePolicy(allowed, dev_mode=True).permits(module) is permitted


@pytest.mark.parametrize("module", ["app tools", "app..x", ".app", "app/../os", ""])
def test_module_names_must_be_dotted_identifiers(module: str) -> None:
    with pytest.raises(Refused, match="not a dotted module name"):
        ModulePolicy(("app",)).check_module(module)


def test_a_callable_must_be_defined_in_an_allowed_module() -> None:
    policy = ModulePolicy(("tests",))
    policy.check_callable(test_module_permission, "fn")
    for reached in (print, sys.exit, json.loads.__call__, ipaddress.ip_address):
        with pytest.raises(Refused, match="defined outside the allowed modules"):
            policy.check_callable(reached, "fn")


# ---- addresses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "fe80::1",
        "100.100.100.200",
    ],
)
def test_metadata_and_link_local_addresses_are_refused_by_default(address: str) -> None:
    assert HostGuard().refusing(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "93.184.216.34", "2001:db8::1"])
def test_other_addresses_pass_unless_the_operator_refuses_them(address: str) -> None:
    assert HostGuard().refusing(ipaddress.ip_address(address)) is None
    operator = HostGuard.from_env(Env({"JAMJET_TOOL_DENIED_NETWORKS": "0.0.0.0/0,::/0"}))
    assert operator.refusing(ipaddress.ip_address(address)) is not None


async def test_allowed_host_patterns() -> None:
    guard = HostGuard.from_env(Env({"JAMJET_TOOL_ALLOWED_HOSTS": "127.0.0.1, *.Example.com."}))
    await guard.check("http://127.0.0.1:1/x", "tool")
    for url in ("http://api.example.com.evil.test/", "http://example.com.attacker/", "http://127.0.0.2/"):
        with pytest.raises(Refused, match="not in JAMJET_TOOL_ALLOWED_HOSTS"):
            await guard.check(url, "tool")


# ---- commands ------------------------------------------------------------------------------------------


def test_commands_match_on_the_resolved_executable(tmp_path: Path) -> None:
    policy = CommandPolicy.from_entries((sys.executable,), dev_mode=False)
    assert policy.executable(sys.executable, "s") == sys.executable
    link = tmp_path / "python-again"
    link.symlink_to(sys.executable)
    assert policy.executable(str(link), "s") == str(link), "the same program, started as named"
    with pytest.raises(Refused, match="not in JAMJET_MCP_ALLOWED_COMMANDS"):
        policy.executable("sh", "s")


def test_dev_mode_refuses_shells_and_launchers() -> None:
    policy = CommandPolicy(None, dev_mode=True)
    assert policy.executable(sys.executable, "s") == sys.executable
    for command in ("sh", "bash", "env"):
        with pytest.raises(Refused):
            policy.executable(command, "s")


# ---- secrets -------------------------------------------------------------------------------------------


def test_tenant_mapping_wins_over_shared_ones(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"*": {"A": "FILE_A"}, "acme": {"A": "ACME_A", "B": "ACME_B"}}))
    mapping = SecretMap.from_env(Env({"JAMJET_SECRETS_FILE": str(path), "JAMJET_SECRET_C": "ENV_C"}))
    assert [mapping.variable("acme", n) for n in "ABC"] == ["ACME_A", "ACME_B", "ENV_C"]
    assert [mapping.variable("other", n) for n in "ABC"] == ["FILE_A", None, "ENV_C"]


@pytest.mark.parametrize("content", ["[]", '{"acme": ["A"]}', '{"acme": {"A": 1}}', "{"])
def test_a_malformed_secrets_file_names_the_variable(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="JAMJET_SECRETS_FILE"):
        SecretMap.from_env(Env({"JAMJET_SECRETS_FILE": str(path)}))


def test_remote_auth_names_secrets_not_variables() -> None:
    secrets = Secrets(SecretMap({"*": {"TOKEN": "REAL_TOKEN"}}), {"REAL_TOKEN": "t", "DATABASE_URL": "pg"})
    assert auth_headers(BearerAuth(token_env="TOKEN"), secrets) == {"Authorization": "Bearer t"}
    with pytest.raises(Refused, match="secret 'DATABASE_URL' is not one this worker gives out"):
        auth_headers(BearerAuth(token_env="DATABASE_URL"), secrets)
    with pytest.raises(FatalError, match="maps to REAL_TOKEN, which is not set"):
        auth_headers(BearerAuth(token_env="TOKEN"), Secrets(secrets.mapping, {}))


async def test_an_mcp_http_server_gets_no_unmapped_secret_and_no_metadata_host() -> None:
    executor = McpToolExecutor(McpSessions(sandbox=SandboxConfig(), environ={"DATABASE_URL": "pg"}))
    async with FakeHttpServer() as server:
        leaky = McpServerConfig(
            transport="streamable_http", url=server.url, auth=BearerAuth(token_env="DATABASE_URL")
        )
        metadata = McpServerConfig(transport="streamable_http", url="http://169.254.169.254/mcp")
        try:
            for config in (leaky, metadata):
                with pytest.raises(Refused):
                    await executor.execute(context(mcp_node("add"), mcp_server=config))
        finally:
            await executor.aclose()
        assert server.requests == []
