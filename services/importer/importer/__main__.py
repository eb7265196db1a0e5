import asyncio

from contracts_common.logging import configure_logging
from contracts_common.runtime import run_worker
from contracts_common.settings import ImporterSettings
from importer.bootstrap import setup


def main() -> None:
    settings = ImporterSettings()  # SECRETS_KEY comes from the environment
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings, "importer", setup))


if __name__ == "__main__":
    main()
