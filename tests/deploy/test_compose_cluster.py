"""deploy/compose.cluster.yml: the single-node file's rules, plus what makes it a cluster.

Three NATS nodes routed to each other (JetStream, `sync_interval` set), R3 streams, every service told
every node, two schedulers and two event stores, and every service waiting for all three nodes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_compose import (
    COLLECTOR,
    PUBLISHED,
    RUNTIME,
    Services,
    dependencies,
    depends_on,
    published,
    resolved,
)

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "deploy" / "compose.cluster.yml"
NATS_CONF = ROOT / "deploy" / "nats-cluster.conf"
NODES = ("nats", "nats-2", "nats-3")


@pytest.fixture(scope="module")
def services() -> Services:
    loaded: Services = yaml.safe_load(CLUSTER.read_text())["services"]
    return loaded


def test_every_container_restarts_and_one_build_serves_the_runtime(services: Services) -> None:
    assert set(services) > RUNTIME | set(NODES)
    assert {n for n, s in services.items() if s.get("restart") != "unless-stopped"} == set()
    assert [n for n, s in services.items() if "build" in s] == ["scheduler"]
    image = services["scheduler"]["image"]
    assert {services[name]["image"] for name in RUNTIME} == {image}


def test_three_nodes_each_named_with_its_own_store(services: Services) -> None:
    names = [services[node]["environment"]["NATS_SERVER_NAME"] for node in NODES]
    assert sorted(names) == ["n1", "n2", "n3"]
    stores = {v.split(":")[0] for node in NODES for v in services[node]["volumes"] if v.endswith(":/data")}
    assert len(stores) == 3


def test_the_node_configuration_is_a_jetstream_cluster_with_sync_interval() -> None:
    conf = NATS_CONF.read_text()
    routes = set(re.findall(r"nats://([\w-]+):6222", conf))
    assert routes == set(NODES)
    assert re.search(r"^\s*sync_interval:\s*always", conf, re.MULTILINE)
    assert "server_name: $NATS_SERVER_NAME" in conf


def test_services_know_every_node_use_r3_and_wait_for_all_of_them(services: Services) -> None:
    for name in RUNTIME:
        env = services[name]["environment"]
        assert env["NATS_URL"].split(",") == [f"nats://{node}:4222" for node in NODES], name
        assert env["JAMJET_STREAM_REPLICAS"] == "3", name
        waits = {
            d for d, how in depends_on(services[name]).items() if how.get("condition") == "service_healthy"
        }
        assert set(NODES) <= waits, name
        assert {*NODES, COLLECTOR, "jaeger"} <= dependencies(services, name), name


def test_two_schedulers_and_two_event_stores(services: Services) -> None:
    replicas = {name: services[name].get("deploy", {}).get("replicas", 1) for name in RUNTIME}
    assert replicas["scheduler"] >= 2 and replicas["event-store"] >= 2 and replicas["worker"] >= 2


def test_every_published_port_is_on_loopback_with_its_own_variable(services: Services) -> None:
    ports = [port for s in services.values() for port in s.get("ports", ())]
    assert [port for port in ports if not PUBLISHED.match(port)] == []
    variables = [PUBLISHED.match(port).group(1) for port in ports]  # type: ignore[union-attr]
    assert len(set(variables)) == len(variables)
    assert "ports" not in services["postgres"]


def test_docker_compose_accepts_the_cluster_file(docker_compose: str) -> None:
    config = resolved(docker_compose, {}, CLUSTER)
    assert {host for _, host, _, _ in published(config)} == {"127.0.0.1"}
    assert config["scheduler"]["environment"]["JAMJET_STREAM_REPLICAS"] == "3"
