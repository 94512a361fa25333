"""A TCP proxy that tests can cut and restore, to stand between Rasa and a shared service.

The machine's PostgreSQL, Redis and RabbitMQ serve other people's tests at the same time, so a
fault test must never stop them. Instead Rasa is pointed at this proxy (127.0.0.1:<port>), which
forwards every connection to the real service; ``cut()`` closes every open connection and stops
listening (a new connection is refused, as when the service is down or restarting), and
``restore()`` listens again on the same port. It runs in its own thread with its own event loop,
so a synchronous test can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    def __init__(self, listen_port: int, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.port = listen_port
        self.target = (target_host, target_port)
        self.connections = 0  # accepted since start, for tests to see traffic went through
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # --- the test's side (any thread) --------------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Close every connection and refuse new ones, as a stopped service would."""
        self._call(self._cut())

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._call(self._listen())

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def stop(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    # --- the proxy's loop --------------------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()  # no graceful close: like a service that went away
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, upstream_writer}
        self._writers |= pair
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            for one in pair:
                self._writers.discard(one)
                one.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()  # one side finished: end the other side too
