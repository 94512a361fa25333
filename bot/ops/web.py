"""The project's web app: the website widget's files, and a demo page that embeds it.

A website adds the widget with one tag (see ``widget/README.md``)::

    <script src="https://assistant.example.org/widget/sen-widget.js" defer
            data-server="https://assistant.example.org" data-title="Ask about SEN Support"></script>

The app serves ``/widget/sen-widget.js``, ``/widget/sen-widget.css``, the socket.io client from
npm (``/widget/socket.io.min.js``) and the demo page ``/`` (a plain local information service's
page). It listens on 127.0.0.1 (``SEN_WEB_PORT``, default 5080); the widget talks to Rasa's
socket.io channel (``bot.channels.widget``) at ``SEN_WIDGET_SERVER`` (default the local Rasa).
"""

from __future__ import annotations

import argparse
import html
import itertools
import sys

from sanic import Request, Sanic
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from bot.settings import ROOT, load_settings

HOST = "127.0.0.1"
WIDGET_DIR = ROOT / "widget"
SOCKETIO_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
_app_numbers = itertools.count(1)

_ASSETS = {
    "sen-widget.js": (WIDGET_DIR / "sen-widget.js", "text/javascript; charset=utf-8"),
    "sen-widget.css": (WIDGET_DIR / "sen-widget.css", "text/css; charset=utf-8"),
    "demo.css": (WIDGET_DIR / "demo.css", "text/css; charset=utf-8"),
    "socket.io.min.js": (SOCKETIO_CLIENT, "text/javascript; charset=utf-8"),
}
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def demo_page(server: str) -> str:
    template = (WIDGET_DIR / "demo.html").read_text(encoding="utf-8")
    return template.replace("{{SERVER}}", html.escape(server, quote=True))


def content_security_policy(server: str) -> str:
    socket = server.replace("http://", "ws://").replace("https://", "wss://")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {server} {socket}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def create_app(server: str) -> Sanic:
    app = Sanic(f"sen_web_{next(_app_numbers)}")
    app.config.REQUEST_MAX_SIZE = 16 * 1024

    @app.get("/")
    async def demo(_: Request) -> HTTPResponse:
        headers = {**_COMMON_HEADERS, "Content-Security-Policy": content_security_policy(server)}
        return raw(demo_page(server).encode(), content_type="text/html; charset=utf-8",
                   headers=headers)  # fmt: skip

    @app.get("/widget/<name>")
    async def asset(_: Request, name: str) -> HTTPResponse:
        if name not in _ASSETS:
            raise NotFound("No such file.")
        path, content_type = _ASSETS[name]
        if not path.exists():
            raise NotFound(f"{name} is missing: run `make run` (it installs the npm packages).")
        return raw(path.read_bytes(), content_type=content_type, headers=_COMMON_HEADERS)

    @app.get("/favicon.ico")
    async def favicon(_: Request) -> HTTPResponse:
        return raw(b"", status=204, headers=_COMMON_HEADERS)

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.ops.web", description=__doc__.split("\n")[0]
    )
    settings = load_settings()
    parser.add_argument("--port", type=int, default=settings.web.port)
    parser.add_argument(
        "--server",
        default=settings.web.widget_server,
        help="the Rasa server the widget talks to",
    )
    options = parser.parse_args(argv)
    if not SOCKETIO_CLIENT.exists():
        print(f"{SOCKETIO_CLIENT} is missing: run `npm ci` (make run does).", file=sys.stderr)
        return 1
    create_app(options.server.rstrip("/")).run(host=HOST, port=options.port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
