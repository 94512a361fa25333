"""Reads what parents type while the bot is paused for an adviser, and acts on it.

A paused Rasa conversation still records the parent's messages but runs no actions, so without
this a parent in the queue could not leave it, and a risk mentioned while waiting would go
unanswered. Rasa's SQL event broker (``event_broker: {type: SQL, ...}`` in endpoints.yml) writes
every event as a row of the ``events`` table; the watcher reads the new rows and, for each parent
message in a conversation whose open case is paused:

- a request to leave ("cancel", "stop", ...) resumes the bot, tells the parent and closes the case;
- a safeguarding concern raises the case to urgent and sends the safeguarding reply at once;
- anything else goes into the case summary for the adviser.

Paused means paused in the event stream too: the message that *caused* the hand-off is recorded
before the pause that follows it, and it must not be handled twice (the action already replied).

Run one watcher per events database: two would both act on every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import sqlalchemy as sa

from bot.assistant import replies
from bot.assistant.safeguarding import SAFEGUARDING_REPLY, is_at_risk
from bot.cases.db import events_engine, events_table
from bot.cases.rasa_client import RasaClient, RasaUnavailable, UnaddressableConversation
from bot.cases.store import CaseError, CaseStore
from bot.contract import Case, Priority, Reason

logger = logging.getLogger(__name__)

LEAVE_PHRASES = frozenset(
    {
        "cancel",
        "stop",
        "leave the queue",
        "end chat",
        "i dont want to wait",
        "i do not want to wait",
    }
)
LEAVE_PAYLOAD = re.compile(r"^/cancel_handoff(\{.*\})?$", re.DOTALL)
LEFT_REPLY = replies.text("handoff.parent_left")
PARENT_LEFT = "parent left"

# Events after which Rasa's tracker is paused (pause) or not (the others reset it).
PAUSE_EVENT = "pause"
UNPAUSE_EVENTS = ("resume", "restart", "session_started")

# A row whose handling failed because Rasa or a database was briefly unreachable is tried again
# on later polls (slower ones), then given up so one conversation can't hold up the others.
MAX_ATTEMPTS = 12
STALLED_POLL_SECONDS = 5.0
TRANSIENT = (RasaUnavailable, sa.exc.OperationalError)


def _words(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("'", "")
    return re.sub(r"[\W_]+", " ", text).strip()


def is_request_to_leave(text: str | None) -> bool:
    """The whole message asks to leave the adviser chat or queue (or is the button's payload).

    Whole messages only: "how do I stop the school excluding him" must not end the chat."""
    if not text:
        return False
    return bool(LEAVE_PAYLOAD.match(text.strip())) or _words(text) in LEAVE_PHRASES


class HandoffWatcher:
    def __init__(self, store: CaseStore, client: RasaClient, events_db_url: str) -> None:
        self.store = store
        self.client = client
        self.engine = events_engine(events_db_url)
        # Only what happens from now on: old messages were handled (or not) long ago.
        self.last_id = self._max_id()
        self.stalled = False
        self._attempts: dict[int, int] = {}

    async def run(self, poll_seconds: float = 0.5) -> None:
        """Poll until cancelled. Nothing that goes wrong in one poll stops the loop."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("The hand-off watcher could not read new events; trying again.")
                self.stalled = True
            await asyncio.sleep(STALLED_POLL_SECONDS if self.stalled else poll_seconds)

    async def poll_once(self) -> int:
        """Handle the rows written since the last poll; returns how many parent messages in
        paused conversations were acted on (left, raised to urgent, or added to a summary)."""
        rows = await asyncio.to_thread(self._rows_after, self.last_id)
        handled = 0
        self.stalled = False
        for row in rows:
            try:
                handled += await self._handle(row.id, row.sender_id, row.data)
            except TRANSIENT as error:
                if self._try_again(row.id, error):
                    self.stalled = True
                    return handled
            except Exception:
                logger.exception("Skipping event %s: it could not be handled.", row.id)
            self.last_id = row.id
        return handled

    # --- one event ---------------------------------------------------------------------------
    async def _handle(self, row_id: int, sender_id: str | None, raw: str | None) -> int:
        event = json.loads(raw or "{}")
        if event.get("event") != "user":
            return 0
        conversation = sender_id or event.get("sender_id")
        case = await asyncio.to_thread(self.store.open_case_for, conversation)
        if case is None or not case.paused:
            return 0
        if await asyncio.to_thread(self._paused_before, conversation, row_id) is False:
            return 0  # the message that led to the pause: the bot itself answered it
        text = event.get("text") or ""
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if is_request_to_leave(text):
            await self._leave(case)
        elif is_at_risk(text, intent):
            await self._raise_urgent(case, text)
        else:
            await asyncio.to_thread(
                self.store.add_to_summary,
                case.id,
                replies.text("cases.parent_said", text=text[:300]),
            )
        self._attempts.pop(row_id, None)
        return 1

    async def _leave(self, case: Case) -> None:
        # Rasa first: if it is down, the case stays open and paused and the message is retried,
        # rather than a closed case with a parent the bot still ignores.
        await self.client.resume(case.conversation_id)
        await self.client.send_bot_message(case.conversation_id, LEFT_REPLY)
        try:
            await asyncio.to_thread(self.store.close, case.id, None, PARENT_LEFT)
        except CaseError as error:  # an adviser closed it a moment ago
            logger.info("Case %s: %s", case.id, error)

    async def _raise_urgent(self, case: Case, text: str) -> None:
        # The case is raised before the reply is sent, so the adviser queue shows it at once
        # even if Rasa is unreachable.
        urgent = Case(
            case.conversation_id,
            case.channel,
            Reason.SAFEGUARDING,
            topic="safeguarding",
            priority=Priority.URGENT,
        )
        await asyncio.to_thread(self.store.open_case, urgent)
        line = replies.text("cases.parent_said_safeguarding", text=text[:300])
        await asyncio.to_thread(self.store.add_to_summary, case.id, line)
        await self.client.send_bot_message(case.conversation_id, SAFEGUARDING_REPLY)

    def _try_again(self, row_id: int, error: Exception) -> bool:
        attempts = self._attempts.get(row_id, 0) + 1
        if isinstance(error, UnaddressableConversation) or attempts >= MAX_ATTEMPTS:
            logger.error("Giving up on event %s after %s attempts: %s", row_id, attempts, error)
            self._attempts.pop(row_id, None)
            return False
        self._attempts[row_id] = attempts
        logger.warning("Event %s will be tried again (attempt %s): %s", row_id, attempts, error)
        return True

    # --- the events table --------------------------------------------------------------------
    def _max_id(self) -> int:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.max(events_table.c.id))).scalar() or 0

    def _rows_after(self, last_id: int, limit: int = 500) -> list:
        query = (
            sa.select(events_table.c.id, events_table.c.sender_id, events_table.c.data)
            .where(events_table.c.id > last_id)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as db:
            return db.execute(query).all()

    def _paused_before(self, conversation: str, row_id: int) -> bool | None:
        """Whether Rasa had paused the conversation before this row; None if the stream holds no
        pause, resume or reset for it (then the case store's flag is all there is)."""
        names = (PAUSE_EVENT, *UNPAUSE_EVENTS)
        query = (
            sa.select(events_table.c.data)
            .where(events_table.c.sender_id == conversation)
            .where(events_table.c.id < row_id)
            .where(sa.or_(*(events_table.c.data.like(f'%"{name}"%') for name in names)))
            .order_by(events_table.c.id.desc())
        )
        with self.engine.connect() as db:
            for (raw,) in db.execute(query):
                kind = _event_name(raw)
                if kind == PAUSE_EVENT:
                    return True
                if kind in UNPAUSE_EVENTS:
                    return False
        return None


def _event_name(raw: str | None) -> str | None:
    try:
        return json.loads(raw or "{}").get("event")
    except (ValueError, AttributeError):
        return None
