"""The scale-out scenarios reuse the fault-injection harness (services as OS processes)."""

from tests.faults.conftest import fresh_report, harness, pytest_runtest_makereport

__all__ = ["fresh_report", "harness", "pytest_runtest_makereport"]
