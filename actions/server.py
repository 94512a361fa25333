"""Runs the rasa_sdk action server on loopback only, with the knowledge base loaded up front, and
only for callers that give the shared secret.

``rasa run actions`` listens on every interface and allows any CORS origin; here the server
listens on 127.0.0.1 (or SEN_ACTIONS_HOST) and allows no browser origin. rasa_sdk 3.6 has no
authentication of its own, so anything that could reach the port (any local user or process)
could run an action: open a case, store a call-back request, read an answer. Every request
except ``/health`` must carry the secret (``bot.settings.actions_secret``) in the
``bot.contract.ACTIONS_SECRET_HEADER`` header, which Rasa sends (``bot.plugins.rasa_run``); any
other request gets 401 and runs nothing. Off loopback, SEN_ACTIONS_SECRET must be set, since
Rasa (elsewhere) can't read the one made in this data folder. Loading the knowledge base and the
sentence encoder before serving keeps the first parent's answer as fast as the rest.
"""

from __future__ import annotations

import argparse
import hmac
import logging
from typing import Any

from bot.contract import ACTIONS_SECRET_HEADER

OPEN_PATHS = frozenset({"/health"})  # probes (Kubernetes, bot.ops.servers) need no secret
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def authorised(given: str | None, secret: str) -> bool:
    """The header holds exactly the secret, compared in constant time."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8"))


def require_secret(app: Any, secret: str) -> None:
    """Refuse every request to ``app`` but ``OPEN_PATHS`` without the secret: 401, a short JSON
    error, before the request reaches rasa_sdk's handlers (so no action runs)."""
    if not secret:
        raise ValueError("the action server's secret is empty")
    from sanic import response

    @app.middleware("request")
    async def check_secret(request: Any) -> Any:
        if request.path in OPEN_PATHS:
            return None
        if authorised(request.headers.get(ACTIONS_SECRET_HEADER), secret):
            return None
        return response.json({"error": "not authenticated"}, status=401)


def main(argv: list[str] | None = None) -> None:
    from bot.settings import actions_secret, load_settings

    settings = load_settings()
    parser = argparse.ArgumentParser(description="SEN Support Assistant action server")
    parser.add_argument("--port", type=int, default=settings.actions.port)
    parser.add_argument("--host", default=settings.actions.host)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from rasa_sdk.endpoint import create_app

    from bot.ops.servers import port_is_free

    if args.host not in LOOPBACK and not settings.actions.secret:
        parser.exit(
            1,
            f"The action server would listen on {args.host}: set SEN_ACTIONS_SECRET, the same "
            "for the Rasa servers that call it.\n",
        )
    if args.host in ("127.0.0.1", "localhost") and not port_is_free(args.port):
        parser.exit(1, f"Port {args.port} is already in use; stop whatever uses it first.\n")

    from actions.runtime import responder

    responder()  # load and validate the knowledge base now: a bad article stops start-up
    app = create_app("actions", cors_origins="")
    require_secret(app, actions_secret(settings.data_dir, settings))
    logging.getLogger(__name__).info("Action server on http://%s:%s", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
