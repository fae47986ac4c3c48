"""Where tenant IR may send requests (HTTP tools, MCP servers over HTTP).

- ``JAMJET_TOOL_ALLOWED_HOSTS``: host names (``api.example.com``, ``*.example.com`` for its
  subdomains) or IP addresses; unset, any host.
- Always refused: cloud metadata names (``metadata.google.internal``...) and any host whose resolved
  addresses include a refused one: link-local (169.254.0.0/16, fe80::/10, where the metadata services
  live), ``fd00:ec2::254``, ``100.100.100.200``, plus ``JAMJET_TOOL_DENIED_NETWORKS`` (CIDRs).

Every resolved address is checked, not the name: a name pointing at a metadata address is refused.
Redirects are not followed by the HTTP clients, so a refused host cannot be reached through one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import FatalError, RetryableError
from services.worker.sandbox.refusal import ADDRESS, HOST, Refused

ALLOWED_VARIABLE = "JAMJET_TOOL_ALLOWED_HOSTS"
DENIED_VARIABLE = "JAMJET_TOOL_DENIED_NETWORKS"
type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
ALWAYS_DENIED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32")
)


@dataclass(frozen=True, slots=True)
class HostGuard:
    allowed: tuple[str, ...] | None = None
    """Lower-case host patterns; None: any host."""
    denied: tuple[Network, ...] = ALWAYS_DENIED

    @classmethod
    def from_env(cls, env: Env) -> HostGuard:
        allowed = env.items(ALLOWED_VARIABLE, ())
        extra = tuple(_network(cidr) for cidr in env.items(DENIED_VARIABLE, ()))
        return cls(tuple(h.lower().rstrip(".") for h in allowed) or None, ALWAYS_DENIED + extra)

    async def check(self, url: str, where: str) -> None:
        """Refuse ``url`` unless its host is allowed and none of its addresses is refused."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise FatalError(f"{where}: {url!r} has no host")
        if host in METADATA_NAMES:
            raise Refused(f"{where}: host '{host}' is a cloud metadata service", rule=ADDRESS)
        if self.allowed is not None and not any(_matches(host, pattern) for pattern in self.allowed):
            raise Refused(f"{where}: host '{host}' is not in {ALLOWED_VARIABLE}", rule=HOST)
        for address in await addresses(host, where):
            if (network := self.refusing(address)) is not None:
                message = f"{where}: host '{host}' is at {address}, in refused network {network}"
                raise Refused(message, rule=ADDRESS)

    def refusing(self, address: Address) -> Network | None:
        """The refused network ``address`` is in, if any (IPv4-mapped IPv6 as its IPv4 address)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return next((network for network in self.denied if address in network), None)


async def addresses(host: str, where: str) -> set[Address]:
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetryableError(f"{where}: cannot resolve host '{host}': {exc}", error_class="io_error") from exc
    return {ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos}


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _network(cidr: str) -> Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ConfigError(f"{DENIED_VARIABLE}: {cidr!r} is not an IP network (CIDR)") from None
