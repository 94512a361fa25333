"""A parent on the website channel: a real socket.io client speaking the widget's protocol.

The server issues the conversation id and a signed token (bot/channels/widget.py); the parent
sends the token with every message. The synchronous client over long-polling is used: Rasa pins
aiohttp 3.9, older than what python-engineio's asyncio websocket client needs.
"""

from __future__ import annotations

import queue
import threading

import socketio


class SocketParent:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.token = token
        self.session_id: str | None = None
        self.new: bool | None = None
        self.history: list[dict] = []
        self.client = socketio.Client(reconnection=False)
        self.received: queue.Queue[dict] = queue.Queue()
        self.acks: queue.Queue[dict] = queue.Queue()
        self._confirmed = threading.Event()
        self._history = threading.Event()
        self.client.on("bot_uttered", self.received.put)
        self.client.on("session_confirm", self._on_confirm)
        self.client.on("history", self._on_history)

    def _on_confirm(self, data: dict) -> None:
        self.session_id, self.token, self.new = data["session_id"], data["token"], data["new"]
        self._confirmed.set()

    def _on_history(self, data: dict) -> None:
        self.history = data["messages"]
        self._history.set()

    def connect(self, request: dict | None = None) -> SocketParent:
        """Connect and ask for a session (with the token, when there is one)."""
        self.client.connect(self.url, socketio_path="/socket.io", transports=["polling"])
        self.client.emit("session_request", request or {"token": self.token})
        if not self._confirmed.wait(10):
            raise TimeoutError("the socket.io session was not confirmed")
        if not self.new and not self._history.wait(10):
            raise TimeoutError("no history came for a restored conversation")
        return self

    def say(self, text: str, **extra: object) -> None:
        data = {"message": text, "token": self.token, **extra}
        self.client.emit("user_uttered", data, callback=self.acks.put)

    def call(self, event: str, data: dict) -> dict:
        """Emit and wait for the server's acknowledgement."""
        return self.client.call(event, data, timeout=30)

    def messages(self, wait: float = 10.0, quiet: float = 1.5) -> list[dict]:
        """Messages received until none comes for ``quiet`` seconds (the first within wait)."""
        received: list[dict] = []
        timeout = wait
        while True:
            try:
                received.append(self.received.get(timeout=timeout))
            except queue.Empty:
                return received
            timeout = quiet

    def replies(self, wait: float = 10.0, quiet: float = 1.5) -> list[str]:
        """Texts received, as a parent reads them (an adviser's prefixed with their name)."""
        return [
            f"{m['name']} (adviser): {m['text']}" if m.get("from") == "adviser" else m["text"]
            for m in self.messages(wait, quiet)
        ]

    def close(self) -> None:
        self.client.disconnect()
