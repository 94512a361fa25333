"""Runs the rasa_sdk action server on loopback only, with the knowledge base loaded up front.

``rasa run actions`` listens on every interface and allows any CORS origin; the action server
has no authentication of its own, so here it listens on 127.0.0.1 (or SEN_ACTIONS_HOST) and
allows no browser origin. Loading the knowledge base and the sentence encoder before serving
keeps the first parent's answer as fast as the rest.
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    from bot.settings import load_settings

    settings = load_settings().actions
    parser = argparse.ArgumentParser(description="SEN Support Assistant action server")
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--host", default=settings.host)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from rasa_sdk.endpoint import create_app

    from bot.ops.servers import port_is_free

    if args.host in ("127.0.0.1", "localhost") and not port_is_free(args.port):
        parser.exit(1, f"Port {args.port} is already in use; stop whatever uses it first.\n")

    from actions.runtime import responder

    responder()  # load and validate the knowledge base now: a bad article stops start-up
    app = create_app("actions", cors_origins="")
    logging.getLogger(__name__).info("Action server on http://%s:%s", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
