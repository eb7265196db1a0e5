import asyncio

from contracts_common.logging import configure_logging
from contracts_common.runtime import run_worker
from contracts_common.settings import MapperSettings
from mapper.bootstrap import setup


def main() -> None:
    settings = MapperSettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings, "mapper", setup))


if __name__ == "__main__":
    main()
