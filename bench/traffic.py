"""Messages per step through nats-server, per service: counted by the server (``/connz``), so unlike
times and CPU they hardly move with the machine's load. A service's connections are named
``<service>:<instance>``; in = messages the service sent, out = messages it was sent."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

SERVICES = ("scheduler", "worker", "event-store", "policy")


def connections(monitor_port: int) -> Counter[str]:
    """Messages in and out of each service's connections so far (``<service>_in``, ``<service>_out``)."""
    url = f"http://127.0.0.1:{monitor_port}/connz?limit=1024"
    with urllib.request.urlopen(url, timeout=5) as reply:
        conns = json.load(reply)["connections"]
    counts: Counter[str] = Counter()
    for conn in conns:
        service = (conn.get("name") or "").split(":", 1)[0]
        if service in SERVICES:
            counts[f"{service}_in"] += conn["in_msgs"]
            counts[f"{service}_out"] += conn["out_msgs"]
    return counts


@dataclass
class Traffic:
    """Messages per step of each service over one workload run (``msgs_per_step``: their sum)."""

    monitor_port: int | None
    steps: int
    start: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.monitor_port is not None:
            self.start = connections(self.monitor_port)

    def per_step(self) -> dict[str, float]:
        if self.monitor_port is None:
            return {}
        moved = connections(self.monitor_port)
        moved.subtract(self.start)
        split = {f"msgs_per_step_{key}": count / self.steps for key, count in sorted(moved.items())}
        return {"msgs_per_step": sum(split.values()), **split}
