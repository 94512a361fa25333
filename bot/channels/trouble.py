"""A polite reply when Rasa could not answer, shared by every channel.

When the action server can't be reached, Rasa logs an error, drops the action's events and sends
nothing: the parent would wait for an answer that never comes. When Redis (the lock store) or the
tracker store fails, Rasa raises instead. Either way the parent should be told, so every channel
(the widget, REST and the messaging apps) hands each message to Rasa through
``handle_or_apologise``: if Rasa sent no message for it and the conversation is not with an
adviser (a paused conversation is *meant* to be silent: the adviser answers), the parent gets
``TROUBLE_REPLY``.

The reply names no phone number of the service (the guidance names none, so neither does the
assistant), only 999 for a child in danger: a safeguarding message sent while the action server is
down gets this reply instead of the safeguarding one, which is written by an action. It offers
"Talk to an adviser", although the hand-off also runs in the action server, so it first says what
the parent can do without it. The reply is sent, not recorded in the tracker: recording it would
need the very tracker store and lock store that may be failing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.assistant import replies
from bot.contract import REQUEST_HUMAN_INTENT

logger = logging.getLogger("bot.channels.trouble")

TROUBLE_REPLY = replies.text("trouble.reply")
TROUBLE_BUTTONS = [replies.button("adviser", f"/{REQUEST_HUMAN_INTENT}")]


def count_sends(output: OutputChannel) -> Callable[[], int]:
    """Count the messages Rasa asks this output channel to send (every bot message goes through
    ``send_response``). Only for an output channel made for one message: the count is kept on
    the instance."""
    sent = [0]
    send_response = output.send_response

    async def counting(recipient_id: str, message: dict[str, Any]) -> None:
        sent[0] += 1
        await send_response(recipient_id, message)

    output.send_response = counting  # type: ignore[method-assign]
    return lambda: sent[0]


async def is_paused(app: Any, sender_id: str) -> bool:
    """Whether an adviser has the conversation (Rasa's ``ConversationPaused``), read from the
    tracker store as the widget channel reaches the agent. Unreadable counts as not paused: a
    parent told "try again" needlessly is better than one left in silence."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return False
    try:
        tracker = await store.retrieve(sender_id)
        return bool(tracker is not None and tracker.is_paused())
    except Exception:
        logger.exception("Could not read the tracker to see whether it is paused.")
        return False


async def send_trouble_reply(output: OutputChannel, sender_id: str) -> None:
    try:
        await output.send_response(
            sender_id, {"text": TROUBLE_REPLY, "buttons": [dict(b) for b in TROUBLE_BUTTONS]}
        )
    except Exception:  # the channel itself is failing: nothing more can be done here
        logger.exception("Could not send the trouble reply.")


def _end_turn_on_circuit_break(tracker: Any, output_channel: Any, nlg: Any) -> None:
    """Rasa's circuit breaker (ten actions without listening, as when every call to the action
    server fails) stops the turn without logging ``action_listen``; the next message then
    counts those ten actions again and trips it at once, for good: the conversation would never
    be answered, even with the action server back. Ending the turn with ``action_listen`` (saved
    with the tracker) lets it recover."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def _guard_circuit_breaker(app: Any) -> None:
    processor = getattr(getattr(getattr(app, "ctx", None), "agent", None), "processor", None)
    if processor is not None and getattr(processor, "on_circuit_break", None) is None:
        processor.on_circuit_break = _end_turn_on_circuit_break


async def handle_or_apologise(
    app: Any,
    message: UserMessage,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    *,
    reraise: bool = False,
    apologise_on_error: bool = True,
) -> bool:
    """Hand ``message`` to Rasa; send ``TROUBLE_REPLY`` when Rasa failed or said nothing while
    the conversation is not with an adviser. True when Rasa answered (or was meant to be silent).

    ``reraise``: raise Rasa's exception after replying (for a channel that reports it itself);
    ``apologise_on_error``: False leaves the reply to an exception to the channel."""
    sent = count_sends(message.output_channel)
    _guard_circuit_breaker(app)  # each time: a newly loaded model brings a new processor
    try:
        await on_new_message(message)
    except Exception:
        if not reraise:
            logger.exception("A message could not be handled; the parent gets the trouble reply.")
        if apologise_on_error:
            await send_trouble_reply(message.output_channel, message.sender_id)
        if reraise:
            raise
        return False
    if sent() or await is_paused(app, message.sender_id):
        return True
    logger.error(
        "Rasa sent nothing for a message in a conversation that is not paused (is the action "
        "server down?); the parent gets the trouble reply."
    )
    await send_trouble_reply(message.output_channel, message.sender_id)
    return False
