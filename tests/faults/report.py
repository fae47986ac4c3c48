"""Per-scenario report: executions run, faults injected, each invariant's result.

Printed (pytest shows it with ``-rA`` or on failure) and appended to ``tests/faults/last-report.txt``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.invariants import Check

REPORT_FILE = Path(__file__).with_name("last-report.txt")


@dataclass(slots=True)
class ScenarioReport:
    name: str
    started: float = field(default_factory=time.monotonic)
    executions: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    emitted: bool = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fault(self, description: str) -> None:
        self.faults.append(f"+{self.elapsed():5.1f}s {description}")

    def note(self, text: str) -> None:
        self.notes.append(f"+{self.elapsed():5.1f}s {text}")

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def render(self) -> str:
        verdict = "FAILED" if self.failed else "passed"
        head = (
            f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} scenario {self.name}: {verdict}; "
            f"{self.executions} executions, {len(self.faults)} faults injected, {self.elapsed():.1f}s ==="
        )
        mix = ", ".join(f"{label} {n}" for label, n in sorted(self.labels.items()))
        lines = [head, f"mix: {mix}", "faults:", *(f"  {f}" for f in self.faults or ["(none)"])]
        lines += ["notes:", *(f"  {n}" for n in self.notes)] if self.notes else []
        lines += ["invariants:", *(f"  {check.line()}" for check in self.checks)]
        return "\n".join(lines) + "\n"

    def emit(self) -> str:
        text = self.render()
        self.emitted = True
        print(text)
        with REPORT_FILE.open("a", encoding="utf-8") as out:
            out.write(text + "\n")
        return text
