"""A real clustered JetStream on loopback: N nats-servers routed to each other, for R3 streams.

Tests of replicated streams (and the scale-out work) start one with ``LocalNatsCluster(3)``; it is ready
once every server is up and the JetStream meta group has a leader, so an R3 stream can be created at once.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from typing import Any

from jamjet_common.local.nats_server import (
    DEFAULT_READY_TIMEOUT,
    HOST,
    LocalNatsServer,
    LocalNatsServerError,
    StartedProcesses,
    free_port,
)

CLUSTER_NAME = "jamjet-local"
_POLL_SECS = 0.05
FORMED_TIMEOUT = 30.0
"""For the meta group's election: on a loaded machine (CI runs three test processes on two cores) it
took over 10 s once."""


class LocalNatsCluster(StartedProcesses):
    """``size`` nats-servers with JetStream, clustered over loopback routes.

    ``url`` lists every server (``nats://a,nats://b,...``), the form ``NATS_URL`` takes for a cluster.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        formed_timeout: float = FORMED_TIMEOUT,
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one server, not {size}")
        route_ports = [free_port() for _ in range(size)]
        routes = ",".join(f"nats://{HOST}:{port}" for port in route_ports)
        self._monitor_ports = [free_port() for _ in range(size)]
        self._formed_timeout = formed_timeout
        self.servers = [
            LocalNatsServer(
                extra_args=_cluster_args(index, route_port, routes),
                monitor_port=monitor_port,
                ready_timeout=ready_timeout,
            )
            for index, (route_port, monitor_port) in enumerate(
                zip(route_ports, self._monitor_ports, strict=True)
            )
        ]

    @property
    def url(self) -> str:
        return ",".join(server.url for server in self.servers)

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self) -> None:
        """Start every server, then wait until the JetStream meta group is formed."""
        for server in self.servers:
            # A server waits for its routes only to form the meta group, so each starts on its own.
            server.start()
        self._wait_formed()

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def _wait_formed(self) -> None:
        deadline = time.monotonic() + self._formed_timeout
        while not self._formed():
            if time.monotonic() > deadline:
                raise LocalNatsServerError(
                    f"the {len(self.servers)}-node cluster formed no JetStream meta group in "
                    f"{self._formed_timeout:g}s"
                )
            time.sleep(_POLL_SECS)

    def _formed(self) -> bool:
        """Every server knows the whole meta group and its leader, and the leader sees every peer current.

        A leader alone is not enough: an R3 stream created before the followers are current times out.
        """
        views = [_meta_cluster(port) for port in self._monitor_ports]
        size = len(self.servers)
        if not all(view.get("leader") and view.get("cluster_size") == size for view in views):
            return False
        return any(_sees_all_current(view.get("replicas") or [], size) for view in views)


def _cluster_args(index: int, route_port: int, routes: str) -> list[str]:
    return [
        "--server_name",
        f"n{index + 1}",
        "--cluster_name",
        CLUSTER_NAME,
        "--cluster",
        f"nats://{HOST}:{route_port}",
        "--routes",
        routes,
    ]


def _sees_all_current(replicas: list[dict[str, object]], size: int) -> bool:
    return len(replicas) == size - 1 and all(peer.get("current") for peer in replicas)


def _meta_cluster(monitor_port: int) -> dict[str, Any]:
    url = f"http://{HOST}:{monitor_port}/jsz"
    with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
        with urllib.request.urlopen(url, timeout=1) as response:
            body = json.load(response)
        meta: dict[str, Any] = body.get("meta_cluster") or {}
        return meta
    return {}
