"""Which of a parent's messages count as a button press.

Rasa reads any message that starts with "/" as an intent, skipping the NLU, with entities after
it as JSON (its RegexMessageHandler): typed by a parent, "/safeguarding" would open an urgent case
with no risk in the text, and '/request_human{"x":1}' would set whatever it names. So every
channel hands what a parent sent through ``message_text`` before Rasa sees it:

- a message that is exactly the payload of a button the assistant shows (the responder's adviser,
  call-back, leave-queue and no-thanks buttons, the call-back consent's yes and no,
  ``/kb_<article>`` for each article of the knowledge base, and its "Tell me more" button,
  ``/kb_<article>{"more":"detail"}``, exactly as written) is kept as that payload, whether it was
  pressed or typed: each does what the same request in words does;
- anything else that starts with "/" (an intent the assistant never offers, a payload with
  entities or JSON, a payload with words after it) loses its leading slashes and is read by the NLU
  as the words it is, so safeguarding's checks run on it like on any other message.

Platform button presses (Telegram's ``callback_data``, Messenger's quick replies and postbacks)
go through the same rule: a client can send any ``callback_data``, and a page's own menu any
postback. A channel may add payloads of its own (Telegram's ``/start`` is sent as ``/greet``).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from bot.assistant.callback import CONSENT_BUTTONS
from bot.assistant.knowledge import expected_article_ids
from bot.assistant.responder import FIXED_BUTTONS
from bot.contract import intent_for_article, more_payload

PREFIX = "/"  # Rasa's INTENT_MESSAGE_PREFIX


@lru_cache(maxsize=1)
def button_payloads() -> frozenset[str]:
    """Every payload a button of the assistant can carry."""
    fixed = {button["payload"] for button in (*FIXED_BUTTONS, *CONSENT_BUTTONS)}
    articles = expected_article_ids() or ()
    topics = {PREFIX + intent_for_article(article) for article in articles}
    more = {more_payload(article) for article in articles}
    return frozenset(fixed | topics | more)


def message_text(text: str, also: Collection[str] = ()) -> str:
    """What Rasa gets for a message a parent sent: a known button payload as it is (``also``:
    the channel's own), any other text starting with "/" without its leading slashes (nothing
    Rasa would take as an intent), other text unchanged."""
    stripped = text.strip()  # as Rasa strips before it looks for the "/"
    if not stripped.startswith(PREFIX):
        return text
    if stripped in button_payloads() or stripped in also:
        return stripped
    while stripped.startswith(PREFIX):
        stripped = stripped[len(PREFIX) :].strip()
    return stripped
