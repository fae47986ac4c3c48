"""The names the compose collector's Prometheus exporter gives the runtime's metrics.

deploy/otel-collector.yaml exports metrics with the collector's `prometheus` exporter, whose name
normalization (on by default since collector 0.85) is: the name's alphanumeric words joined by `_`, the
unit's Prometheus word appended unless already there (units in braces are dropped), `total` last for
monotonic sums, and the exporter's `namespace`, if configured, in front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

COLLECTOR_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "otel-collector.yaml"
UNITS = {"ms": "milliseconds", "s": "seconds", "By": "bytes", "1": ""}


@dataclass(frozen=True)
class MetricShape:
    name: str
    unit: str
    monotonic_sum: bool


def namespace() -> str:
    exporters = yaml.safe_load(COLLECTOR_CONFIG.read_text())["exporters"]
    return str(exporters["prometheus"].get("namespace", ""))


def name(metric: MetricShape, prefix: str) -> str:
    words = [word for word in re.split(r"[^0-9A-Za-z]+", metric.name) if word]
    unit = metric.unit.split("/")[0].strip()
    if unit and "{" not in unit:
        word = UNITS.get(unit, re.sub(r"[^0-9A-Za-z]+", "", unit))
        if word and word not in words:
            words.append(word)
    if metric.monotonic_sum:
        words = [*(w for w in words if w != "total"), "total"]
    return "_".join([prefix, *words] if prefix else words)
