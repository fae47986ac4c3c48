from jamjet_common.service import run_main
from services.scheduler.service import SchedulerService


def main() -> None:
    run_main(SchedulerService.from_env)


if __name__ == "__main__":
    main()
