"""The id of a bot message: derived from its event's timestamp and text, so the widget, the
tracker's history and the console all name the same message the same way (feedback is stored
against it)."""

from __future__ import annotations

import hashlib


def message_id(timestamp: object, text: str) -> str:
    return hashlib.sha256(f"{timestamp!r}|{text}".encode()).hexdigest()[:16]
