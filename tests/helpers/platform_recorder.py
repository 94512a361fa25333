"""A stand-in for the Telegram, Twilio and Messenger APIs on loopback, recording every request.

The channels send to ``SEN_TELEGRAM_API_URL``, ``SEN_TWILIO_API_URL`` and
``SEN_MESSENGER_API_URL``; pointed here, each request is kept exactly as it arrived (method,
path with query, headers, body) and answered the way the platform documents, so tests can assert
on what a parent's phone would have been sent.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    @property
    def recipient(self) -> str:
        """Who the message is for, whatever the platform: chat id, To, or PSID."""
        if self.form:
            return self.form.get("To", [""])[0]
        body = self.json if isinstance(self.json, dict) else {}
        if "chat_id" in body:
            return str(body["chat_id"])
        return str((body.get("recipient") or {}).get("id", ""))

    @property
    def text(self) -> str:
        if self.form:
            return self.form.get("Body", [""])[0]
        body = self.json if isinstance(self.json, dict) else {}
        return str(body.get("text") or (body.get("message") or {}).get("text") or "")


class PlatformRecorder:
    """``with PlatformRecorder() as api:`` serves on ``api.url`` until the block ends.

    ``refuse`` holds recipients the platform answers with an error (a blocked bot, an opted-out
    number), to test what happens when a message can't be delivered."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                record = Recorded("POST", self.path, dict(self.headers.items()), body)
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json"):
                    record.json = json.loads(body or b"null")
                elif kind.startswith("application/x-www-form-urlencoded"):
                    record.form = parse_qs(body.decode(), keep_blank_values=True)
                with recorder._lock:
                    recorder.requests.append(record)
                status, answer = recorder.answer(record)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PlatformRecorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    # --- answering like the platforms --------------------------------------------------------
    def answer(self, record: Recorded) -> tuple[int, dict]:
        route = record.route
        refused = record.recipient in self.refuse
        if route.endswith("/sendMessage"):
            if refused:
                return 403, {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
            return 200, {
                "ok": True,
                "result": {
                    "message_id": len(self.requests),
                    "date": int(time.time()),
                    "chat": {"id": record.json["chat_id"], "type": "private"},
                    "text": record.json["text"],
                },
            }
        if route.endswith(("/answerCallbackQuery", "/setWebhook")):
            return 200, {"ok": True, "result": True}
        if route.endswith("/Messages.json"):
            if refused:
                return 400, {
                    "code": 21610,
                    "message": "Attempt to send to unsubscribed recipient",
                    "status": 400,
                }
            return 201, {
                "sid": "SM" + secrets.token_hex(16),
                "status": "queued",
                "to": record.form["To"][0],
                "from": record.form["From"][0],
                "body": record.form["Body"][0],
            }
        if route.endswith("/me/messages"):
            if refused:
                return 400, {"error": {"code": 551, "type": "OAuthException", "message": "x"}}
            return 200, {
                "recipient_id": record.json["recipient"]["id"],
                "message_id": "m_" + secrets.token_hex(8),
            }
        return 404, {"error": "no such API in the recorder"}

    # --- for tests ---------------------------------------------------------------------------
    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, mark: int, to: str | None = None) -> list[Recorded]:
        with self._lock:
            found = self.requests[mark:]
        return [r for r in found if to is None or r.recipient == to]

    def wait_for(
        self, mark: int, predicate: Callable[[list[Recorded]], bool], timeout: float = 15.0
    ) -> list[Recorded]:
        """The requests since ``mark`` once ``predicate`` holds for them (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.since(mark)
            if predicate(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
