"""The assistant's own words: every reply that is not an article, read from knowledge/replies.yml.

Code holds the logic (which reply, and what fills its placeholders); the words live in the YAML
file, so they can be reviewed and changed as content. ``text("group.key", **fields)`` gives a
reply with its placeholders filled in (``str.format``); ``topics()`` the beyond-guidance topics.

``EXPECTED`` is the contract between the two: every key the code uses, with the placeholders the
code supplies. ``check`` (run by ``python -m bot validate``) holds the file to it: every key present
and a non-empty string, exactly the expected placeholders, no unknown keys, and the safeguarding
reply still giving every emergency number.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.assistant import service
from bot.settings import ROOT

PATH = ROOT / "knowledge" / "replies.yml"

# Every reply the code uses, "group.key" -> the placeholders the code fills in.
EXPECTED: dict[str, frozenset[str]] = {
    key: frozenset(fields)
    for key, fields in {
        "introduction.welcome": ("hours",),
        "answer.source": ("title", "section", "publisher", "url"),
        "answer.several": (),
        "answer.part": ("title", "summary", "source"),
        "answer.part_beyond": ("topic",),
        "answer.no_more": ("title",),
        "smalltalk.greet": (),
        "smalltalk.goodbye": (),
        "smalltalk.thanks": (),
        "smalltalk.bot_challenge": (),
        "smalltalk.affirm": (),
        "smalltalk.deny": (),
        "smalltalk.deny_after_offer": (),
        "smalltalk.stop": (),
        "clarify.no_text": (),
        "clarify.not_english": (),
        "clarify.out_of_scope": (),
        "clarify.unsure": (),
        "clarify.with_topics": ("lead",),
        "clarify.after_misses": ("lead",),
        "escalate.parent_asked": (),
        "escalate.beyond_guidance": ("topic",),
        "escalate.and": ("first", "last"),
        "escalate.on_duty": ("why", "reference", "queue"),
        "escalate.queue_next": (),
        "escalate.queue_one": (),
        "escalate.queue_many": ("ahead",),
        "escalate.off_duty": ("why", "hours", "reference"),
        "escalate.time_critical": (),
        "handoff.adviser_joined": ("first_name",),
        "handoff.adviser_closed": (),
        "handoff.parent_left": (),
        "handoff.unnamed_adviser": (),
        "handoff.adviser_prefix": ("first_name",),
        "callback.ask_contact": (),
        "callback.ask_time": (),
        "callback.ask_name": (),
        "callback.bad_email": (),
        "callback.bad_phone": (),
        "callback.no_time": (),
        "callback.long_time": (),
        "callback.bad_name": (),
        "callback.privacy": (),
        "callback.consent_question": (),
        "callback.declined": (),
        "callback.requested": ("best_time", "reference"),
        "callback.stopped": (),
        "safeguarding.reply": (),
        "safeguarding.adviser_on_duty": ("reference",),
        "safeguarding.adviser_off_duty": ("hours", "reference"),
        "safeguarding.adviser_off_duty_in_callback": ("hours", "reference"),
        "safeguarding.misunderstood": (),
        "safeguarding.possible_line": (),
        "trouble.reply": (),
        "limits.rate_limited": (),
        "limits.sessions_limited": (),
        "channels.options_lead": (),
        "channels.choose": (),
        "channels.unsupported": (),
        "channels.failed": (),
        "buttons.adviser": (),
        "buttons.callback": (),
        "buttons.leave_queue": (),
        "buttons.no_thanks": (),
        "buttons.consent_yes": (),
        "buttons.consent_no": (),
        "buttons.more": (),
        "contact.phone": ("hours",),
        "contact.email": (),
        "contact.website": (),
        "contact.local_offer": (),
        "contact.find_another": (),
        "contact.factsheet": ("title", "url"),
        "cases.parent_said": ("text",),
        "cases.parent_said_safeguarding": ("text",),
        "cases.topic": ("topic",),
        "cases.no_topic": (),
        "adviser.login_retry": (),
        "adviser.login_locked": (),
        "adviser.login_wrong": (),
        "adviser.request_failed": (),
        "adviser.server_error": (),
        "adviser.token_needed": (),
        "adviser.assistant_unreachable": ("problem",),
        "adviser.export_heading": ("conversation", "channel", "started"),
        "adviser.export_heading_redacted": ("conversation", "channel", "started"),
        "adviser.export_parent": (),
        "adviser.export_adviser": ("name",),
        "adviser.export_unnamed_adviser": (),
        "adviser.export_assistant": (),
        "adviser.chart_per_day": (),
        "adviser.chart_routes": (),
        "adviser.chart_articles": (),
        "adviser.chart_feedback": (),
    }.items()
}

# Any reply may also show the service's own details (knowledge/service.yml) as
# ``{service.<field>}``; they are filled in by ``text`` and are not listed above.
SERVICE_PREFIX = "service."

# escalate.topics: a mapping, intent -> a phrase that fits "That's a question about {topic}."
TOPICS_KEY = "escalate.topics"
BEYOND_GUIDANCE_INTENTS: tuple[str, ...] = (
    "out_ehcp_process",
    "out_ehcp_refusal",
    "out_appeals_tribunal",
    "out_annual_review",
    "out_exclusion",
    "out_school_placement",
    "out_transport",
    "out_post16",
    "out_home_education",
    "out_independent_school",
    "out_diagnosis_medical",
    "out_other_nations",
    "out_la_complaint",
    "out_support_cut",
    "out_trips_activities",
    "out_benefits",
    "out_school_complaint",
    "out_discrimination",
)

# Numbers the safeguarding reply must give (what the number is, the number as written).
EMERGENCY_NUMBERS: dict[str, str] = {
    "999": "emergency services",
    "0808 800 5000": "NSPCC helpline",
    "0800 1111": "Childline",
    "116 123": "Samaritans",
    "0808 2000 247": "National Domestic Abuse Helpline",
    "NHS 111": "NHS 111 (urgent health advice)",
}
# The short line for a possible risk gives at least these.
POSSIBLE_LINE_NUMBERS = ("999", "0800 1111", "116 123")
# The trouble reply names no number but 999 (bot/channels/trouble.py says why).
TROUBLE_ONLY_NUMBER = "999"


class RepliesError(Exception):
    """knowledge/replies.yml does not hold what the code needs; ``problems`` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def placeholders(template: str) -> set[str]:
    """The names of a template's ``{placeholders}`` (``{{`` and ``}}`` are literal braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def _flatten(data: dict) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for group, entries in data.items():
        if not isinstance(entries, dict):
            flat[str(group)] = entries
            continue
        for key, value in entries.items():
            flat[f"{group}.{key}"] = value
    return flat


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def check(data: Any, path: Path = PATH) -> list[str]:
    """What is wrong with the replies in ``data`` (the parsed YAML of ``path``); [] when nothing."""
    where = _shown(path)
    if not isinstance(data, dict):
        return [f"{where}: expected groups of replies (a mapping at the top), found {data!r:.40}."]
    flat = _flatten(data)
    problems: list[str] = []
    details = _service_beside(path, problems)
    for key in sorted(set(EXPECTED) - set(flat)):
        problems.append(f"{where}: {key} is missing: add it (the code uses it).")
    for key in sorted(set(flat) - set(EXPECTED) - {TOPICS_KEY}):
        problems.append(
            f"{where}: {key} is not a reply the code uses: remove it, or name it as the code does "
            "(see EXPECTED in bot/assistant/replies.py)."
        )
    for key, fields in EXPECTED.items():
        if key not in flat:
            continue
        value = flat[key]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {key} must be a non-empty text, found {value!r:.40}.")
            continue
        try:
            found = placeholders(value)
        except ValueError as error:
            problems.append(
                f"{where}: {key} has a broken placeholder ({error}): write {{name}}, "
                "or {{{{ and }}}} for a literal brace."
            )
            continue
        for name in sorted(f for f in found if f.startswith(SERVICE_PREFIX)):
            why = details and service.missing(details, name[len(SERVICE_PREFIX) :])
            if why:
                problems.append(
                    f"{where}: {key} shows {{{name}}}, but knowledge/service.yml's "
                    f"{name[len(SERVICE_PREFIX) :]} is {why}: fill it in, or take it out here."
                )
        found = {f for f in found if not f.startswith(SERVICE_PREFIX)}
        if found != fields:
            allowed = ", ".join(f"{{{f}}}" for f in sorted(fields)) or "none"
            extra = ", ".join(f"{{{f}}}" for f in sorted(found - fields))
            missing = ", ".join(f"{{{f}}}" for f in sorted(fields - found))
            said = "; ".join(
                part
                for part in (
                    f"unknown {extra}" if extra else "",
                    f"missing {missing}" if missing else "",
                )
                if part
            )
            problems.append(
                f"{where}: {key} has the wrong placeholders ({said}): use exactly {allowed}."
            )
    problems += _check_topics(flat.get(TOPICS_KEY), where)
    reply = flat.get("safeguarding.reply")
    if isinstance(reply, str):
        for number, name in EMERGENCY_NUMBERS.items():
            if number not in reply:
                problems.append(
                    f"{where}: safeguarding.reply must give the {name} number {number}: "
                    "put it back."
                )
    line = flat.get("safeguarding.possible_line")
    if isinstance(line, str):
        for number in POSSIBLE_LINE_NUMBERS:
            if number not in line:
                problems.append(
                    f"{where}: safeguarding.possible_line must give {number} "
                    f"({EMERGENCY_NUMBERS[number]}): put it back."
                )
    trouble = flat.get("trouble.reply")
    if isinstance(trouble, str) and TROUBLE_ONLY_NUMBER not in trouble:
        problems.append(f"{where}: trouble.reply must say to call 999 if a child is in danger.")
    return problems


def _service_beside(path: Path, problems: list[str]) -> service.Details | None:
    """The service's details in the service.yml beside the replies (or the project's, for a
    replies file checked on its own), for their placeholders."""
    beside = path.parent / "service.yml"
    try:
        return service.read(beside if beside.is_file() else service.PATH)
    except service.ServiceError as error:
        problems += error.problems
        return None


def _check_topics(topics: Any, where: str) -> list[str]:
    if topics is None:
        return [f"{where}: {TOPICS_KEY} is missing: add one phrase per beyond-guidance intent."]
    if not isinstance(topics, dict):
        return [f"{where}: {TOPICS_KEY} must map each beyond-guidance intent to a phrase."]
    problems = []
    for intent in BEYOND_GUIDANCE_INTENTS:
        if intent not in topics:
            problems.append(f"{where}: {TOPICS_KEY}.{intent} is missing: add its phrase.")
    for intent, phrase in topics.items():
        if intent not in BEYOND_GUIDANCE_INTENTS:
            problems.append(
                f"{where}: {TOPICS_KEY}.{intent} is not a beyond-guidance intent: remove it, or "
                "add the intent to BEYOND_GUIDANCE_INTENTS in bot/assistant/replies.py."
            )
        elif not isinstance(phrase, str) or not phrase.strip():
            problems.append(f"{where}: {TOPICS_KEY}.{intent} must be a non-empty phrase.")
        elif "{" in phrase or "}" in phrase:
            problems.append(f"{where}: {TOPICS_KEY}.{intent} takes no placeholders.")
    return problems


def read(path: Path = PATH) -> dict[str, Any]:
    """The replies in ``path``, checked and flattened to ``"group.key" -> text``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RepliesError([f"{_shown(path)}: can't be read ({error}): fix the YAML."]) from error
    problems = check(data, path)
    if problems:
        raise RepliesError(problems)
    return _flatten(data)


@lru_cache(maxsize=1)
def _replies() -> dict[str, Any]:
    return read(PATH)


def text(key: str, **fields: object) -> str:
    """The reply ``key`` ("group.key"), its placeholders filled in from ``fields``."""
    if key not in EXPECTED:
        raise KeyError(f"{key} is not in EXPECTED (bot/assistant/replies.py)")
    template = _replies()[key]
    if "{" + SERVICE_PREFIX in template:
        return template.format(service=service.current(), **fields)
    return template.format(**fields)


def topics() -> dict[str, str]:
    """Beyond-guidance intent -> the phrase for it, in BEYOND_GUIDANCE_INTENTS order."""
    found = _replies()[TOPICS_KEY]
    return {intent: found[intent] for intent in BEYOND_GUIDANCE_INTENTS}


def button(key: str, payload: str) -> dict[str, str]:
    """A button titled with ``buttons.<key>``."""
    return {"title": text(f"buttons.{key}"), "payload": payload}
