"""What an adviser does with a case, whichever way they reach it (the adviser API or the console).

Claiming pauses the bot and tells the parent who has joined; messages go to the parent's chat;
closing resumes the bot and tells the parent. Rasa is told first where it matters, so that a Rasa
that can't be reached leaves the case in a state the adviser can simply retry.
"""

from __future__ import annotations

import asyncio

from bot.assistant import replies
from bot.cases.rasa_client import RasaClient, RasaUnavailable
from bot.cases.store import Adviser, CaseStore
from bot.contract import Case, Status

MAX_MESSAGE_CHARS = 2000
JOINED = replies.text("handoff.adviser_joined", first_name="{first_name}")
CLOSED_REPLY = replies.text("handoff.adviser_closed")


class DeskError(Exception):
    """The action could not be completed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HandoffDesk:
    def __init__(self, store: CaseStore, client: RasaClient) -> None:
        self.store = store
        self.client = client

    async def claim(self, case_id: int, adviser: Adviser, take_over: bool = False) -> Case:
        before = await asyncio.to_thread(self.store.get, case_id)
        case = await asyncio.to_thread(self.store.claim, case_id, adviser.username, take_over)
        already_joined = (
            before.status is Status.LIVE and before.adviser == adviser.username and before.paused
        )
        if already_joined:
            return case
        try:
            await self.client.pause(case.conversation_id)
            await self.client.send_bot_message(
                case.conversation_id,
                replies.text("handoff.adviser_joined", first_name=adviser.first_name),
            )
        except RasaUnavailable as problem:
            raise DeskError(
                502,
                f"Case {case_id} is yours, but the parent could not be told ({problem}). "
                "Claim it again to retry.",
            ) from None
        # Marked paused only once the parent has been told, so a retried claim tells them then.
        await asyncio.to_thread(self.store.set_paused, case_id, True)
        return await asyncio.to_thread(self.store.get, case_id)

    async def send(self, case_id: int, adviser: Adviser, text: str) -> None:
        text = text.strip()
        if not text:
            raise DeskError(400, "The message is empty.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise DeskError(400, f"The message is longer than {MAX_MESSAGE_CHARS} characters.")
        case = await asyncio.to_thread(self.store.require_holder, case_id, adviser.username)
        try:
            await self.client.send_adviser_message(case.conversation_id, adviser.first_name, text)
        except RasaUnavailable as problem:
            raise DeskError(502, f"The message was not sent ({problem}).") from None

    async def close(self, case_id: int, adviser: Adviser, outcome: str) -> Case:
        case = await asyncio.to_thread(self.store.require_holder, case_id, adviser.username)
        if case.paused:
            # Rasa first: if it is unreachable the case stays open and the adviser can retry,
            # instead of a closed case whose parent the bot goes on ignoring.
            try:
                await self.client.resume(case.conversation_id)
                await self.client.send_bot_message(case.conversation_id, CLOSED_REPLY)
            except RasaUnavailable as problem:
                raise DeskError(
                    502,
                    f"Case {case_id} is still open: the assistant could not resume ({problem}).",
                ) from None
        return await asyncio.to_thread(self.store.close, case_id, adviser.username, outcome)

    async def case_and_transcript(self, case_id: int) -> tuple[Case, list[dict], str | None]:
        """The case, its messages and, when Rasa can't be reached, why they are missing."""
        case = await asyncio.to_thread(self.store.get, case_id)
        try:
            return case, await self.client.transcript(case.conversation_id), None
        except RasaUnavailable as problem:
            return case, [], str(problem)
