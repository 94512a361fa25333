"""What every web server here (Rasa's channels, the adviser API, the console) needs of a request
from outside: its JSON body read safely, the client's address, and refusals logged quietly.

- ``json_value``: ``json.loads`` raises ``RecursionError`` (not ``ValueError``) on deeply nested
  input, ``[[[[…]]]]`` 10,000 deep is only 20 KB, so every JSON body is read through this, which
  turns that into ``ValueError`` as for any other bad JSON.
- ``client_address``: the address a trusted proxy names (Sanic's own ``SANIC_REAL_IP_HEADER`` or
  ``SANIC_PROXIES_COUNT``), else the connection's peer. Used by per-address limits.
- ``quiet_refusals``: an odd request is the caller's business, not an error of ours. Sanic logs
  "body not consumed" at ERROR for any GET with a body that is answered 2xx, so anyone could fill
  the log with ERRORs; it becomes a WARNING. (Rasa's refused API calls: bot.plugins.rasa_run.)
"""

from __future__ import annotations

import json
import logging
from typing import Any

_SANIC_ERRORS = "sanic.error"


def json_value(body: bytes | str | None) -> Any:
    """The JSON value of a body (None for an empty one); ``ValueError`` when it is not JSON,
    is not UTF-8, or is nested too deeply to read."""
    if not body:
        return None
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as problem:
        raise ValueError(str(problem)) from None


def client_address(request: Any) -> str:
    """The client's address (see the module's docstring)."""
    return str(request.remote_addr or request.ip or "")


class _RefusalsAreWarnings(logging.Filter):
    """Makes Sanic's "body not consumed" (a GET with a body) a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and str(record.msg).endswith("body not consumed."):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_refusals() -> None:
    """Install the filter on Sanic's error logger (once)."""
    target = logging.getLogger(_SANIC_ERRORS)
    if not any(isinstance(f, _RefusalsAreWarnings) for f in target.filters):
        target.addFilter(_RefusalsAreWarnings())
