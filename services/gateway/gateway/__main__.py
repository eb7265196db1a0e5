from aiohttp import web

from contracts_common.logging import configure_logging
from contracts_common.settings import GatewaySettings
from gateway.bootstrap import build


def main() -> None:
    settings = GatewaySettings()  # ADMIN_API_TOKEN and SECRETS_KEY come from the environment
    configure_logging(settings.log_level, settings.log_format)

    async def app_factory() -> web.Application:
        app, _ = await build(settings)
        return app

    # web.run_app handles SIGTERM: it stops accepting, lets requests in flight finish, runs cleanup.
    web.run_app(
        app_factory(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        access_log=None,
        shutdown_timeout=20,
    )


if __name__ == "__main__":
    main()
