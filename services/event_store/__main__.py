"""``jamjet-event-store``: run the event store until SIGTERM/SIGINT."""

from __future__ import annotations

from jamjet_common.service import run_main
from services.event_store.service import EventStoreService


def main() -> None:
    run_main(EventStoreService.from_env)


if __name__ == "__main__":
    main()
