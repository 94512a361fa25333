"""The call-back request: checking what a parent types, and the privacy statement they agree to.

Only what an adviser needs to call back is asked for: one way to contact (an email address or a
UK phone number), a good time, and, if the parent wants, a first name. Nothing is stored without
explicit consent, and the details are cleared when the case is closed (bot/cases/store.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.assistant import replies

PRIVACY_STATEMENT = replies.text("callback.privacy")
CONSENT_QUESTION = replies.text("callback.consent_question")
CONSENT_BUTTONS = (replies.button("consent_yes", "/affirm"), replies.button("consent_no", "/deny"))
QUESTIONS = {
    "callback_contact": replies.text("callback.ask_contact"),
    "callback_time": replies.text("callback.ask_time"),
    "callback_name": replies.text("callback.ask_name"),
}

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_SKIP_NAME = {"skip", "no", "none", "n/a", "na", "-", "no thanks", "rather not", "prefer not"}


@dataclass(frozen=True)
class Checked:
    value: str | None
    problem: str | None = None


def check_contact(text: str | None) -> Checked:
    """An email address, or a UK phone number (landline or mobile), tidied up."""
    text = (text or "").strip()
    if "@" in text:
        if _EMAIL.match(text) and len(text) <= 254:
            return Checked(text.lower())
        return Checked(None, replies.text("callback.bad_email"))
    digits = re.sub(r"[\s().-]", "", text)
    if digits.startswith("+44"):
        digits = "0" + digits[3:]
    if re.fullmatch(r"0\d{9,10}", digits):
        return Checked(digits)
    return Checked(None, replies.text("callback.bad_phone"))


def check_best_time(text: str | None) -> Checked:
    text = " ".join((text or "").split())
    if not text:
        return Checked(None, replies.text("callback.no_time"))
    if len(text) > 120:
        return Checked(None, replies.text("callback.long_time"))
    return Checked(text)


def check_first_name(text: str | None) -> Checked:
    """A first name is optional: "skip" means none."""
    text = " ".join((text or "").split())
    if text.lower().strip(".!") in _SKIP_NAME:
        return Checked("")
    if re.fullmatch(r"[^\W\d_][^\W\d_'\- ]{0,39}", text):
        return Checked(text.split()[0].capitalize())
    return Checked(None, replies.text("callback.bad_name"))
