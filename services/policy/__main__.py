"""Process entry point: ``jamjet-policy`` / ``python -m services.policy``."""

from __future__ import annotations

from jamjet_common.service import run_main
from services.policy.service import PolicyService


def main() -> None:
    run_main(PolicyService.from_env)


if __name__ == "__main__":
    main()
