"""An adviser calling the adviser API over HTTP, as the tests against real servers do."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def call_adviser_api(
    url: str, token: str, method: str, path: str, body: dict | None = None
) -> tuple[int, dict]:
    """(HTTP status, JSON body) of one request with the adviser's bearer token."""
    request = urllib.request.Request(
        url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
