"""A parent on the website channel: a real socket.io client, as the widget will be.

The synchronous client over long-polling is used: Rasa pins aiohttp 3.9, older than what
python-engineio's asyncio websocket client needs.
"""

from __future__ import annotations

import queue
import threading
import uuid

import socketio


class SocketParent:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        self.client = socketio.Client(reconnection=False)
        self.received: queue.Queue[dict] = queue.Queue()
        self._confirmed = threading.Event()
        self.client.on("bot_uttered", self.received.put)
        self.client.on("session_confirm", lambda _sid: self._confirmed.set())

    def connect(self) -> SocketParent:
        self.client.connect(self.url, socketio_path="/socket.io", transports=["polling"])
        self.client.emit("session_request", {"session_id": self.session_id})
        if not self._confirmed.wait(10):
            raise TimeoutError("the socket.io session was not confirmed")
        return self

    def say(self, text: str) -> None:
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def replies(self, wait: float = 10.0, quiet: float = 1.5) -> list[str]:
        """Texts received until nothing more arrives for ``quiet`` seconds (first within wait)."""
        texts: list[str] = []
        timeout = wait
        while True:
            try:
                message = self.received.get(timeout=timeout)
            except queue.Empty:
                return texts
            texts.append(message.get("text", ""))
            timeout = quiet

    def close(self) -> None:
        self.client.disconnect()
