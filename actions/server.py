"""Run the action server on one address: 127.0.0.1 unless `ACORDO_ACTIONS_HOST` says otherwise.

`python -m rasa_sdk` binds every interface (0.0.0.0) and allows any CORS origin, and rasa-sdk
3.6 has no option for either; only Rasa, on the same machine, needs to reach the actions. This
builds the same Sanic app with `rasa_sdk.endpoint.create_app` and runs it on the configured
host, without CORS (no browser ever calls it). The settings are checked before anything
listens, so a development token in production stops the process with the reason.

It logs JSON lines with each turn's request id and serves Prometheus metrics at `/metrics`
(actions/observability.py); with several Sanic workers (`ACTION_SERVER_SANIC_WORKERS`), set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory so that a scrape sees all of them.

    python -m actions.server --port 5055
"""

from __future__ import annotations

import argparse
import logging
import sys

from rasa_sdk import utils
from rasa_sdk.constants import DEFAULT_SERVER_PORT
from sanic import Sanic

from actions import backend_client, observability
from actions.config import InsecureSettings, get_action_settings

log = logging.getLogger(__name__)


def create_app(action_package: str = "actions") -> Sanic:
    """rasa-sdk's app, without CORS, with the request id middleware and `/metrics`."""
    # Imported once logging is set up: sanic_cors warns on import.
    from rasa_sdk.endpoint import create_app as create_sdk_app

    app = create_sdk_app(action_package, cors_origins=None)
    observability.install(app)

    async def close_backend_connections(_app: Sanic, _loop) -> None:
        await backend_client.close_shared_session()

    app.register_listener(close_backend_connections, "after_server_stop")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the Acordo action server")
    parser.add_argument("--port", type=int, default=DEFAULT_SERVER_PORT)
    parser.add_argument("--actions", default="actions", help="the package of the actions")
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    try:
        settings = get_action_settings()
    except InsecureSettings as exc:
        sys.exit(f"action server: {exc}")
    utils.update_sanic_log_level()
    observability.configure_logging(args.loglevel)
    app = create_app(args.actions)
    log.info("action server listening on http://%s:%d", settings.host, args.port)
    app.run(
        host=settings.host,
        port=args.port,
        workers=utils.number_of_sanic_workers(),
        access_log=False,
        motd=False,
    )


if __name__ == "__main__":
    main()
