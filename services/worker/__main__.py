from jamjet_common.service import run_main
from services.worker.service import WorkerService


def main() -> None:
    run_main(WorkerService.from_env)


if __name__ == "__main__":
    main()
