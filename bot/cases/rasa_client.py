"""A small client for the parts of Rasa's HTTP API that the adviser hand-off needs.

The adviser console never talks to a parent's channel directly: it appends events to the
conversation's tracker and asks Rasa to deliver bot messages on the channel the parent last used
(``output_channel=latest``). socket.io pushes such a message to the parent at once; the REST
channel has no push, so there the message only lands in the tracker.

Adviser messages are marked ``{"from": "adviser", "name": ...}`` in the event's **metadata**, not
in ``data.custom`` as first planned: Rasa 3.6's socket.io channel sends ``custom`` as keyword
arguments to ``AsyncServer.emit`` (``emit(event, from=..., name=...)``), which raises a
``TypeError``, so Rasa answers 500 and does not save the event. Metadata is merged into the
message and ignored by every output channel, and it is kept in the tracker, where the transcript
reads it. (Events marked in ``data.custom`` by anything else are still read as the adviser's.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
from yarl import URL

from bot.assistant import replies

ADVISER = "adviser"
JWT_METHOD = "HS256"
JWT_USER = {"username": "sen-services", "role": "admin"}
JWT_LIFETIME_SECONDS = 300


def api_jwt(secret: str, now: float | None = None, lifetime: float = JWT_LIFETIME_SECONDS) -> str:
    """A short-lived JWT for Rasa's HTTP API (``rasa run --jwt-secret``), signed with the shared
    secret. Short-lived, so a token that leaks into a log is useless within minutes; and sent in
    the ``Authorization`` header, never the query string, where proxies and logs keep it."""
    issued = int(now if now is not None else time.time())
    payload = {"user": JWT_USER, "iat": issued, "exp": issued + int(lifetime)}
    return jwt.encode(payload, secret, algorithm=JWT_METHOD)


def api_headers(secret: str) -> dict[str, str]:
    """The header that authenticates one request to Rasa's HTTP API."""
    return {"Authorization": f"Bearer {api_jwt(secret)}"}


class RasaUnavailable(Exception):
    """Rasa could not be reached, or refused or failed the request (non-2xx)."""


class UnaddressableConversation(RasaUnavailable):
    """A conversation id Rasa's HTTP API can't name: trying again will not help."""


# Characters a URL path may carry as they are. Rasa (Sanic) does not percent-decode the
# conversation id in /conversations/<id:path>/..., so an id that needs encoding would silently
# name a different, new conversation; such ids are refused instead.
_RAW_PATH_CHARACTERS = "/:@!$&'()*+,;="


def addressable(conversation_id: str) -> str:
    if not conversation_id or quote(conversation_id, safe=_RAW_PATH_CHARACTERS) != conversation_id:
        raise UnaddressableConversation(
            f"Conversation {conversation_id!r} can't be reached through Rasa's HTTP API "
            "(its id has characters a URL path can't carry as they are)."
        )
    return conversation_id


class RasaClient:
    """Talks to one Rasa server, signing a fresh JWT for every request with the shared secret.
    Every call has a short timeout, because an adviser waiting on a hung Rasa is worse than a
    quick, clear error they can retry."""

    def __init__(self, url: str, secret: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 2.0))

    # --- reading -----------------------------------------------------------------------------
    async def tracker(self, conversation_id: str) -> dict:
        """The conversation's tracker as Rasa returns it (events since the last restart)."""
        tracker = await self._request("GET", self._path(conversation_id, "tracker"))
        if not isinstance(tracker, dict):
            raise RasaUnavailable("Rasa answered the tracker request with something unexpected.")
        return tracker

    async def transcript(self, conversation_id: str) -> list[dict]:
        """The messages of the conversation in order, each marked parent, bot or adviser."""
        tracker = await self.tracker(conversation_id)
        return transcript_from_events(tracker.get("events") or [])

    # --- writing -----------------------------------------------------------------------------
    async def send_adviser_message(self, conversation_id: str, first_name: str, text: str) -> None:
        marking = {"from": ADVISER, "name": first_name}
        await self._append(
            conversation_id,
            [
                bot_event(
                    replies.text("handoff.adviser_prefix", first_name=first_name) + text,
                    metadata=marking,
                )
            ],
        )

    async def send_bot_message(self, conversation_id: str, text: str) -> None:
        await self._append(conversation_id, [bot_event(text)])

    async def pause(self, conversation_id: str) -> None:
        """Silence the bot for this conversation (ConversationPaused) while an adviser chats."""
        await self._append(conversation_id, [{"event": "pause", "timestamp": time.time()}])

    async def resume(self, conversation_id: str) -> None:
        """Let the bot answer again (ConversationResumed)."""
        await self._append(conversation_id, [{"event": "resume", "timestamp": time.time()}])

    # --- plumbing ----------------------------------------------------------------------------
    async def _append(self, conversation_id: str, events: list[dict]) -> None:
        # execute_side_effects is what makes Rasa deliver bot events to the output channel;
        # without it they are only stored.
        params = {"output_channel": "latest", "execute_side_effects": "true"}
        await self._request(
            "POST", self._path(conversation_id, "tracker/events"), params=params, body=events
        )

    def _path(self, conversation_id: str, tail: str) -> str:
        return f"/conversations/{addressable(conversation_id)}/{tail}"

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        headers = api_headers(self.secret)
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                # encoded=True: the path goes out exactly as built, never re-quoted.
                url = URL(self.url + path, encoded=True).with_query(params or {})
                async with session.request(method, url, json=body, headers=headers) as reply:
                    if not 200 <= reply.status < 300:
                        detail = (await reply.text())[:300].replace(self.secret, "***")
                        raise RasaUnavailable(
                            f"Rasa answered {method} {path} with HTTP {reply.status}: {detail}"
                        )
                    return await reply.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            # ValueError: a body that is not JSON. asyncio.TimeoutError: the short timeout.
            reason = (str(error) or "no answer in time").replace(self.secret, "***")
            raise RasaUnavailable(
                f"Rasa at {self.url} could not be reached ({type(error).__name__}: {reason})."
            ) from error


def bot_event(text: str, metadata: dict | None = None) -> dict:
    return {"event": "bot", "text": text, "metadata": metadata or {}, "timestamp": time.time()}


def _speaker(event: dict) -> str | None:
    kind = event.get("event")
    if kind == "user":
        return "parent"
    if kind != "bot":
        return None
    custom = (event.get("data") or {}).get("custom")
    marks = [event.get("metadata") or {}, custom if isinstance(custom, dict) else {}]
    return ADVISER if any(mark.get("from") == ADVISER for mark in marks) else "bot"


def transcript_from_events(events: list[dict]) -> list[dict]:
    """User and bot messages, in order, as {"from", "text", "timestamp"}."""
    lines = []
    for event in events:
        speaker = _speaker(event)
        if speaker is None or not event.get("text"):
            continue
        lines.append({"from": speaker, "text": event["text"], "timestamp": event.get("timestamp")})
    return lines
