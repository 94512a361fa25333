"""The local information service's own details (knowledge/service.yml): its name, phone, email,
website, Local Offer, factsheets, where to find another area's SENDIASS, and the topics where a
date on a letter may run out.

They are content, not code: a service changes them without touching Python. Replies refer to them
as ``{service.phone}`` (``str.format`` reads the attribute), and an article lists the ones shown
under its answer (``service: [phone, email, local_offer, factsheets.meeting_tips]``). Both are
checked by ``python -m bot validate``: a reference to a field that is missing or empty fails,
naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import ROOT

PATH = ROOT / "knowledge" / "service.yml"

# Every field a service must give, and which of them are links.
TEXT_FIELDS = ("name", "full_name", "area", "phone", "email")
LINK_FIELDS = ("website", "local_offer", "find_another")
FACTSHEETS = "factsheets"
TIME_CRITICAL = "time_critical_topics"
_LINK = re.compile(r"^https?://\S+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ]{8,15}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)


class ServiceError(Exception):
    """knowledge/service.yml has problems; ``problems`` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Details:
    """A mapping read as attributes, so a reply can say ``{service.factsheets.ehcp.url}``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._data:
            raise AttributeError(name)
        value = self._data[name]
        return Details(value) if isinstance(value, Mapping) else value

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def value(self, path: str) -> Any:
        """The value at a dotted ``path`` ("phone", "factsheets.ehcp"), or None if there is none."""
        found: Any = self._data
        for part in path.split("."):
            if not isinstance(found, Mapping) or part not in found:
                return None
            found = found[part]
        return found

    def as_mapping(self) -> dict[str, Any]:
        return dict(self._data)

    @property
    def time_critical_topics(self) -> tuple[str, ...]:
        return tuple(str(t) for t in self._data.get(TIME_CRITICAL) or ())


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing(details: Details, path: str) -> str | None:
    """Why ``path`` can't be shown ("missing", "empty"), or None when it can. A factsheet (a
    mapping) needs its title and link."""
    found: Any = details._data
    for part in path.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return "missing"
        found = found[part]
    if _empty(found):
        return "empty"
    if isinstance(found, Mapping):
        return next((f"{k} empty" for k in ("title", "url") if _empty(found.get(k))), None)
    return None


def check(data: Any, topics: Collection[str], where: str = "knowledge/service.yml") -> list[str]:
    """What is wrong with the service's details ``data``; [] when nothing. ``topics`` are the
    beyond-guidance intents a time-critical topic must be one of."""
    if not isinstance(data, Mapping):
        return [f"{where}: expected the service's fields (a mapping), found {data!r:.40}."]
    problems = []
    for name in (*TEXT_FIELDS, *LINK_FIELDS):
        value = data.get(name)
        if _empty(value) or not isinstance(value, str | int):
            problems.append(f"{where}: {name} is missing or empty: give the service's {name}.")
        elif name in LINK_FIELDS and not _LINK.match(str(value)):
            problems.append(f"{where}: {name} must be a link starting https://, not {value!r}.")
    phone, email = str(data.get("phone") or ""), str(data.get("email") or "")
    if phone and not _PHONE.match(phone):
        problems.append(f"{where}: phone {phone!r} is not a phone number (digits and spaces).")
    if email and not _EMAIL.match(email):
        problems.append(f"{where}: email {email!r} is not an email address.")
    sheets = data.get(FACTSHEETS) or {}
    if not isinstance(sheets, Mapping):
        problems.append(f"{where}: {FACTSHEETS} must map a factsheet's id to its title and url.")
        sheets = {}
    for sheet, fields in sheets.items():
        if not isinstance(fields, Mapping) or _empty(fields.get("title")):
            problems.append(f"{where}: {FACTSHEETS}.{sheet}.title is missing or empty.")
        if not isinstance(fields, Mapping) or not _LINK.match(str(fields.get("url") or "")):
            problems.append(f"{where}: {FACTSHEETS}.{sheet}.url must be a link starting https://.")
    critical = data.get(TIME_CRITICAL) or []
    if not isinstance(critical, list):
        problems.append(f"{where}: {TIME_CRITICAL} must be a list of beyond-guidance intents.")
        critical = []
    for topic in critical:
        if topic not in topics:
            problems.append(
                f"{where}: {TIME_CRITICAL}: '{topic}' is not a beyond-guidance intent "
                "(escalate.topics in knowledge/replies.yml)."
            )
    return problems


def read(path: Path = PATH) -> Details:
    """The service's details in ``path``, not yet checked (``check`` does that)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ServiceError([f"{path}: can't be read ({error}): fix the YAML."]) from error
    if not isinstance(data, Mapping):
        raise ServiceError([f"{path}: expected the service's fields (a mapping)."])
    return Details(data)


@lru_cache(maxsize=1)
def current() -> Details:
    """The service's details from knowledge/service.yml, read once per process."""
    return read(PATH)
