"""The call-back request: checking what a parent types, and the privacy statement they agree to.

Only what an adviser needs to call back is asked for: one way to contact (an email address or a
UK phone number), a good time, and, if the parent wants, a first name. Nothing is stored without
explicit consent, and the details are cleared when the case is closed (bot/cases/store.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRIVACY_STATEMENT = (
    "Before I pass these on: to arrange a call-back we store the contact details, the time and "
    "(if you gave one) the first name you typed, with a note of your question. Only the adviser "
    "service sees them, they are used only to contact you about this question, and they are "
    "deleted when your case is closed. You don't have to agree: if you say no, nothing is "
    "stored and you can contact your local SENDIASS yourself."
)
CONSENT_QUESTION = "Do you agree to us storing these details for this purpose?"
QUESTIONS = {
    "callback_contact": (
        "How should an adviser contact you? Type an email address or a UK phone number. "
        '(Type "stop" at any time to stop.)'
    ),
    "callback_time": "When is a good time to contact you? For example: weekday mornings.",
    "callback_name": (
        'What first name should the adviser ask for? This is optional: type "skip" to leave it out.'
    ),
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
        return Checked(
            None,
            "That email address doesn't look complete (it should look like name@example.co.uk). "
            "Please type it again, or give a phone number instead.",
        )
    digits = re.sub(r"[\s().-]", "", text)
    if digits.startswith("+44"):
        digits = "0" + digits[3:]
    if re.fullmatch(r"0\d{9,10}", digits):
        return Checked(digits)
    return Checked(
        None,
        "I couldn't read that as a UK phone number or an email address. A phone number has 10 or "
        "11 digits and starts with 0 or +44, like 07700 900123. Please try again.",
    )


def check_best_time(text: str | None) -> Checked:
    text = " ".join((text or "").split())
    if not text:
        return Checked(None, "When is a good time for an adviser to contact you?")
    if len(text) > 120:
        return Checked(None, "Please keep the time short, for example 'weekday mornings'.")
    return Checked(text)


def check_first_name(text: str | None) -> Checked:
    """A first name is optional: "skip" means none."""
    text = " ".join((text or "").split())
    if text.lower().strip(".!") in _SKIP_NAME:
        return Checked("")
    if re.fullmatch(r"[^\W\d_][^\W\d_'\- ]{0,39}", text):
        return Checked(text.split()[0].capitalize())
    return Checked(
        None, "Please type just a first name (letters only), or 'skip' if you'd rather not."
    )
