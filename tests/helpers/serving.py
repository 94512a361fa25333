"""Serving a Sanic app for real in tests (a free loopback port, a thread with its own loop), and
a stand-in for the Rasa client that records what would have been sent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from sanic import Sanic

from bot.cases.rasa_client import RasaUnavailable


class FakeRasa:
    """Stands in for RasaClient: records each call; ``down`` makes every call fail as an
    unreachable Rasa does."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.down = False
        self.transcripts: dict[str, list[dict]] = {}
        self.transcript_error: Exception | None = None

    def _record(self, *call: Any) -> None:
        if self.down:
            raise RasaUnavailable("Rasa at http://127.0.0.1:5005 could not be reached.")
        self.calls.append(call)

    async def transcript(self, conversation_id: str) -> list[dict]:
        if self.transcript_error is not None:
            raise self.transcript_error
        self._record("transcript", conversation_id)
        return self.transcripts.get(conversation_id, [])

    async def send_adviser_message(self, conversation_id: str, first_name: str, text: str) -> None:
        self._record("adviser", conversation_id, first_name, text)

    async def send_bot_message(self, conversation_id: str, text: str) -> None:
        self._record("bot", conversation_id, text)

    async def pause(self, conversation_id: str) -> None:
        self._record("pause", conversation_id)

    async def resume(self, conversation_id: str) -> None:
        self._record("resume", conversation_id)

    def sent(self) -> list[tuple]:
        return [call for call in self.calls if call[0] != "transcript"]


@contextlib.contextmanager
def serving(app: Sanic) -> Iterator[str]:
    """Serve the app on a free loopback port in a thread with its own event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def boot() -> None:
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.before_start()
        await server.after_start()
        state["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(boot())
        except BaseException as error:  # reported to the test below
            state["error"] = error
        finally:
            ready.set()
        if "error" not in state:
            loop.run_forever()
        # Whatever is left (idle keep-alive connections) ends here, not in a closed loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(20), "the adviser API did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(state["server"]), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        sock.close()


async def _shutdown(server: Any) -> None:
    """What Sanic's own runner does on stop: listeners, then close the idle connections."""
    await server.before_stop()
    server.close()
    for connection in list(server.connections):
        connection.close_if_idle()
    deadline = time.monotonic() + 5
    while server.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await server.wait_closed()
    await server.after_stop()
