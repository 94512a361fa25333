"""Signed conversation tokens, shared by the REST and widget channels: the server issues a
conversation id with a signature and the time it was issued, so a client can't pick or guess
another parent's conversation, and a token stops working after a day."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TOKEN_TTL_SECONDS = 24 * 3600


class Tokens:
    """Signed conversation tokens: ``<conversation>.<issued>.<signature>``."""

    def __init__(self, secret: bytes, ttl: float = TOKEN_TTL_SECONDS) -> None:
        self.secret = secret
        self.ttl = ttl

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, now: float | None = None) -> tuple[str, str]:
        conversation = "w" + secrets.token_urlsafe(18)
        return conversation, self.token_for(conversation, now)

    def token_for(self, conversation: str, now: float | None = None) -> str:
        body = f"{conversation}.{int(now if now is not None else time.time())}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: object, now: float | None = None) -> str | None:
        """The conversation id, or None when the token is missing, forged or too old."""
        if not isinstance(token, str) or len(token) > 200 or token.count(".") != 2:
            return None
        conversation, issued, signature = token.split(".")
        if not hmac.compare_digest(self._sign(f"{conversation}.{issued}"), signature):
            return None
        if not issued.isdigit():
            return None
        age = (now if now is not None else time.time()) - int(issued)
        if age > self.ttl or age < -300:
            return None
        return conversation
