"""Transcripts, content gaps and analytics from the event broker's table (bot/cases/transcripts.py).

The fixture ``events_sample.json`` is the events table of a real run (Rasa server, action server
and adviser API): five REST conversations (an answer then a payload Rasa could not match, a
message it could not understand, a question beyond the guidance, a safeguarding message, a
button payload and small talk) and one widget conversation (a button with its display text, an
answer the parent marked unhelpful, a hand-off to the adviser Sam and back, a second question
beyond the guidance). Other events are made here in the same shapes.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cases.db import events_engine, events_table
from bot.cases.store import CaseStore
from bot.cases.transcripts import (
    ConversationSummary,
    TranscriptStore,
    content_words,
    group_questions,
    message_id,
)
from bot.contract import Case, Reason

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events_sample.json"
WIDGET = "w1mAkbBVIel2cTtQzS48K4ZKS"
# The id the widget gave the SENCO answer in the real run (its feedback went in with this id).
WIDGET_ANSWER_ID = "11bde2ff6e3226f0"
REAL_CONVERSATIONS = {
    "conv-answer",
    "conv-clarify",
    "conv-escalate",
    "conv-safe",
    "conv-button",
    WIDGET,
}
DAY = 24 * 3600
# 2026-03-02 10:00 UTC (a Monday; also 10:00 in London, before the clocks change).
T0 = datetime(2026, 3, 2, 10, tzinfo=timezone.utc).timestamp()


def fixture_rows() -> list[dict]:
    return json.loads(FIXTURE.read_text())


class Events:
    """Events in the shapes Rasa's broker writes them, with increasing timestamps."""

    def __init__(self, start: float = T0) -> None:
        self.rows: list[dict] = []
        self.clock = start

    def _add(self, sender: str, event: dict, at: float | None) -> Events:
        self.clock = at if at is not None else self.clock + 1.0
        self.rows.append({"sender_id": sender, "data": {**event, "timestamp": self.clock}})
        return self

    def session(self, sender: str, at: float | None = None) -> Events:
        self._add(sender, {"event": "action", "name": "action_session_start"}, at)
        self._add(sender, {"event": "bot", "text": "Hello, I'm an automated helper."}, None)
        self._add(sender, {"event": "session_started"}, None)
        self._add(sender, {"event": "slot", "name": "route", "value": "smalltalk"}, None)
        return self._add(sender, {"event": "action", "name": "action_listen"}, None)

    def ask(
        self,
        sender: str,
        text: str,
        route: str | None,
        *,
        intent: str = "nlu_fallback",
        article: str | None = None,
        reply: str = "A reply.",
        channel: str = "widget",
        at: float | None = None,
    ) -> Events:
        """A parent message, the reply and the slots the actions set after it."""
        user = {
            "event": "user",
            "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": 0.8}, "entities": []},
            "input_channel": channel,
            "metadata": {},
        }
        self._add(sender, user, at)
        self._add(sender, {"event": "bot", "text": reply, "metadata": {"article": article}}, None)
        if route is not None:
            self._add(sender, {"event": "slot", "name": "route", "value": route}, None)
            self._add(sender, {"event": "slot", "name": "kb_article", "value": article}, None)
        return self

    def raw(self, sender: str, data: object) -> Events:
        self.rows.append({"sender_id": sender, "data": data})
        return self


def write_events(url: str, rows: list[dict]) -> None:
    engine = events_engine(url)
    with engine.begin() as db:
        for row in rows:
            data = row["data"]
            text = data if isinstance(data, str) or data is None else json.dumps(data)
            db.execute(events_table.insert().values(sender_id=row["sender_id"], data=text))
    engine.dispose()


@pytest.fixture
def urls(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'events.db'}", f"sqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
def real(urls) -> TranscriptStore:
    """The store on the real run's events, with its feedback as the widget stored it."""
    events_url, cases_url = urls
    write_events(events_url, fixture_rows())
    CaseStore(cases_url).record_feedback(WIDGET, WIDGET_ANSWER_ID, "senco", False)
    return TranscriptStore(events_url, cases_url)


def by_id(summaries: list[ConversationSummary]) -> dict[str, ConversationSummary]:
    return {s.conversation_id: s for s in summaries}


# --- turns -----------------------------------------------------------------------------------
def test_a_rest_conversation_has_its_turns_with_intent_route_article_and_replies(real):
    summary, turns = real.conversation("conv-answer")
    assert [t.index for t in turns] == [0, 1]
    first, second = turns
    assert first.text == "my ds is 7 who is the senco and what do they do"
    assert first.intent == "kb_senco" and first.confidence == pytest.approx(0.9774, abs=1e-4)
    assert (first.route, first.article) == ("answer", "senco")
    # The greeting before the first message belongs to no turn: the answer is the only reply.
    assert len(first.replies) == 1
    answer = first.replies[0]
    assert answer["from"] == "bot" and answer["name"] is None and answer["article"] == "senco"
    assert answer["text"].startswith("The SENCO is the school's")
    assert answer["buttons"][-1] == {"title": "Talk to an adviser", "payload": "/request_human"}
    assert first.timestamp < answer["timestamp"] < second.timestamp
    # The slots set at the session's start (route "smalltalk") don't leak into the turn.
    assert (second.text, second.intent, second.route, second.article) == (
        "/kb_send_support_plan",
        "nlu_fallback",
        "clarify",
        None,
    )
    assert summary.channel == "rest" and summary.turns == 2
    assert summary.routes == ["answer", "clarify"] and summary.articles == ["senco"]


def test_a_widget_conversation_shows_button_text_the_adviser_and_the_hand_off(real):
    summary, turns = real.conversation(WIDGET)
    assert [t.text for t in turns] == [
        "The SENCO",  # the button's title the parent saw, not its payload "/kb_senco"
        "can i talk to someone please",
        "hello is anyone there",
        "council refused ehcp assessment can they",
    ]
    assert [t.route for t in turns] == ["answer", "escalate", None, "escalate"]
    assert [t.intent for t in turns] == ["kb_senco", "request_human", "greet", "out_ehcp_refusal"]
    # The adviser's join message follows the parent's request; the parent's message while
    # waiting ran no action (route None) and the adviser answered it.
    assert [r["text"] for r in turns[1].replies][-1] == "Sam, an adviser, has joined the chat."
    adviser, closed = turns[2].replies
    assert (adviser["from"], adviser["name"], adviser["text"]) == (
        "adviser",
        "Sam",
        "Hi, I'm Sam. How can I help?",
    )
    assert closed["from"] == "bot" and "closed this chat" in closed["text"]
    assert summary.channel == "widget"
    assert summary.escalated and not summary.safeguarding


def test_reply_ids_are_the_widgets_and_feedback_is_joined_through_them(real):
    from bot.channels.widget import message_id as widget_message_id

    for stamp, text in [(1795939401.058782, "x"), (12, "y\nz"), (None, "")]:
        assert message_id(stamp, text) == widget_message_id(stamp, text)
    summary, turns = real.conversation(WIDGET)
    answer = turns[0].replies[0]
    assert answer["message_id"] == WIDGET_ANSWER_ID
    assert answer["helpful"] is False and turns[0].feedback is False
    assert all(t.feedback is None for t in turns[1:])
    assert (summary.helpful, summary.unhelpful) == (0, 1)
    # Feedback is taken once: a second vote on the same answer changes nothing.
    assert not real.cases_store.record_feedback(WIDGET, WIDGET_ANSWER_ID, "senco", True)
    summary, turns = real.conversation(WIDGET)
    assert turns[0].feedback is False and (summary.helpful, summary.unhelpful) == (0, 1)
    # Feedback is per conversation: the same answer elsewhere has none.
    assert real.conversation("conv-button")[1][0].feedback is None


def test_turns_handed_out_are_copies(real):
    _, turns = real.conversation(WIDGET)
    turns[0].replies.clear()
    turns[0].text = "changed"
    _, again = real.conversation(WIDGET)
    assert again[0].text == "The SENCO" and len(again[0].replies) == 1


def test_safeguarding_and_escalation_are_marked_from_routes_intents_and_cases(urls):
    events_url, cases_url = urls
    events = Events()
    events.session("plain").ask("plain", "what is a senco", "answer", article="senco")
    events.session("cased").ask("cased", "what is a senco", "answer", article="senco")
    # While an adviser has the chat, a risk gets no route, only the classifier's intent.
    events.ask("paused", "he said he will hurt himself", None, intent="safeguarding")
    write_events(events_url, events.rows)
    CaseStore(cases_url).open_case(Case("cased", "widget", Reason.PARENT_ASKED))
    found = by_id(TranscriptStore(events_url, cases_url).conversations())
    assert not found["plain"].escalated and not found["plain"].safeguarding
    assert found["cased"].escalated and not found["cased"].safeguarding
    assert found["paused"].safeguarding and found["paused"].routes == []


def test_conversations_without_a_parent_message_are_left_out(urls):
    events_url, _ = urls
    events = Events().session("opened-only").session("asked").ask("asked", "hi", "smalltalk")
    write_events(events_url, events.rows)
    store = TranscriptStore(events_url)
    assert [s.conversation_id for s in store.conversations()] == ["asked"]
    assert store.conversation("opened-only") is None
    assert store.conversation("never-existed") is None


def test_a_new_session_closes_the_turn(urls):
    events_url, _ = urls
    events = Events().session("c").ask("c", "what is a senco", "answer", article="senco")
    events.session("c", at=T0 + DAY).ask("c", "what is an iep", "clarify")
    write_events(events_url, events.rows)
    _, turns = TranscriptStore(events_url).conversation("c")
    # The second session's greeting and its reset of "route" are not the first turn's.
    assert [(t.route, t.article, len(t.replies)) for t in turns] == [
        ("answer", "senco", 1),
        ("clarify", None, 1),
    ]


# --- listing and filters -----------------------------------------------------------------------
def test_the_list_is_newest_first_with_summaries(real):
    found = real.conversations()
    assert [s.conversation_id for s in found] == [
        WIDGET,
        "conv-button",
        "conv-safe",
        "conv-escalate",
        "conv-clarify",
        "conv-answer",
    ]
    assert all(a.last >= b.last for a, b in zip(found, found[1:], strict=False))
    summaries = by_id(found)
    assert summaries["conv-safe"].safeguarding and summaries["conv-safe"].routes == ["safeguarding"]
    assert summaries["conv-button"].routes == ["answer", "smalltalk"]
    assert summaries["conv-button"].started < summaries["conv-button"].last
    assert [s.conversation_id for s in real.conversations(limit=2)] == [WIDGET, "conv-button"]


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"channel": "widget"}, {WIDGET}),
        ({"channel": "rest"}, REAL_CONVERSATIONS - {WIDGET}),
        ({"channel": "sms"}, set()),
        ({"route": "escalate"}, {"conv-escalate", WIDGET}),
        ({"route": "clarify"}, {"conv-answer", "conv-clarify"}),
        ({"route": "safeguarding"}, {"conv-safe"}),
        ({"article": "senco"}, {"conv-answer", "conv-button", WIDGET}),
        ({"article": "exclusion"}, set()),
        ({"feedback": "unhelpful"}, {WIDGET}),
        ({"feedback": "any"}, {WIDGET}),
        ({"feedback": "helpful"}, set()),
        ({"feedback": "none"}, REAL_CONVERSATIONS - {WIDGET}),
        ({"route": "answer", "channel": "rest"}, {"conv-answer", "conv-button"}),
    ],
)
def test_each_filter(real, filters, expected):
    assert {s.conversation_id for s in real.conversations(**filters)} == expected


def test_search_covers_parent_bot_and_adviser_text_ignoring_case(real):
    def search(query: str) -> set[str]:
        return {s.conversation_id for s in real.conversations(query=query)}

    assert search("KILL HIMSELF") == {"conv-safe"}  # the parent's words
    assert search("who is the senco") == {"conv-answer"}
    assert search("the senco") == {"conv-answer", "conv-button", WIDGET}  # the answer's too
    assert search("Hi, I'm Sam") == {WIDGET}  # the adviser's
    assert search("in English at the moment") == {"conv-clarify"}  # the bot's
    assert search("/kb_send_support_plan") == {"conv-answer"}
    # The greeting every conversation starts with is in no turn, so it matches nothing.
    assert search("automated helper, not a person") == set()
    assert search("no such words anywhere") == set()


def test_since_and_until_select_conversations_active_in_the_window(urls):
    events_url, _ = urls
    events = Events()
    events.ask("monday", "q", "answer", at=T0).ask("monday", "q2", "answer", at=T0 + 600)
    events.ask("tuesday", "q", "answer", at=T0 + DAY)
    events.ask("long", "q", "answer", at=T0 + 300).ask("long", "q2", "answer", at=T0 + 2 * DAY)
    write_events(events_url, events.rows)
    store = TranscriptStore(events_url)

    def ids(**window) -> set[str]:
        return {s.conversation_id for s in store.conversations(**window)}

    assert ids(since=T0 + DAY - 1) == {"tuesday", "long"}
    assert ids(until=T0 + 100) == {"monday"}
    assert ids(since=T0 + DAY - 1, until=T0 + DAY + 1) == {"tuesday", "long"}
    assert ids(since=T0 + 3 * DAY) == set()


def test_an_unknown_feedback_filter_is_refused(real):
    with pytest.raises(ValueError, match="helpful"):
        real.conversations(feedback="yes")


# --- content gaps -----------------------------------------------------------------------------
def test_content_words_put_near_identical_questions_together():
    a = content_words("Can the council refuse an EHCP?")
    b = content_words("council refused ehcp assessment can they")
    assert a == {"council", "refus", "ehcp"} and a < b
    assert content_words("ehcp refusal") == content_words("refused ehcp") == {"refus", "ehcp"}
    assert content_words("what is it?") == frozenset()


def test_content_gaps_group_questions_most_frequent_first(urls):
    events_url, _ = urls
    events = Events()
    events.ask("a", "can the council refuse an ehcp", "escalate", intent="out_ehcp_refusal")
    events.ask("b", "Council refused EHCP assessment, can they?", "escalate")
    events.ask("c", "can the council refuse an ehcp", "clarify")
    events.ask("d", "what is a one page profile", "clarify")
    events.ask("e", "What is a one-page profile??", "clarify")
    events.ask("f", "who pays for school transport", "escalate")
    # Not gaps: answered, small talk, safeguarding, a payload, asking for a person, no route.
    events.ask("g", "what is a senco", "answer", article="senco")
    events.ask("g", "hello", "smalltalk", intent="greet")
    events.ask("h", "he wants to hurt himself", "safeguarding", intent="safeguarding")
    events.ask("i", "/kb_nonexistent", "clarify")
    events.ask("i", "can i talk to someone please", "escalate", intent="request_human")
    events.ask("j", "can the council refuse an ehcp", None)  # while an adviser had the chat
    write_events(events_url, events.rows)
    gaps = TranscriptStore(events_url).content_gaps()
    assert [(g["example"], g["count"]) for g in gaps] == [
        ("can the council refuse an ehcp", 3),
        ("What is a one-page profile??", 2),
        ("who pays for school transport", 1),
    ]
    refusal, profile, transport = gaps
    assert refusal["routes"] == {"clarify": 1, "escalate": 2}
    assert refusal["questions"] == [
        "can the council refuse an ehcp",
        "Council refused EHCP assessment, can they?",
    ]
    assert refusal["conversation_ids"] == ["c", "b", "a"]
    assert profile["routes"] == {"clarify": 2, "escalate": 0}
    assert len(profile["questions"]) == 2
    asked = next(r["data"] for r in events.rows if r["data"].get("text", "").startswith("who"))
    assert transport["last_seen"] == asked["timestamp"]


def test_content_gaps_since_and_limit(urls):
    events_url, _ = urls
    events = Events()
    events.ask("old", "what is a one page profile", "clarify", at=T0)
    events.ask("old", "what is a one page profile", "clarify", at=T0 + 10)
    events.ask("new", "who pays for school transport", "escalate", at=T0 + DAY)
    write_events(events_url, events.rows)
    store = TranscriptStore(events_url)
    assert [g["count"] for g in store.content_gaps()] == [2, 1]
    assert [g["count"] for g in store.content_gaps(since=T0 + 5)] == [1, 1]
    assert [g["example"] for g in store.content_gaps(since=T0 + 11)] == [
        "who pays for school transport"
    ]
    assert len(store.content_gaps(limit=1)) == 1


def test_content_gaps_from_the_real_run(real):
    gaps = real.content_gaps()
    assert gaps[0]["questions"] == [
        "can the council refuse an ehcp assessment",
        "council refused ehcp assessment can they",
    ]
    assert gaps[0]["count"] == 2 and gaps[0]["routes"] == {"clarify": 0, "escalate": 2}
    # "can i talk to someone please" asked for a person; "/kb_send_support_plan" was a payload.
    assert [g["example"] for g in gaps[1:]] == ["blorp fizzle wug"]


def test_grouping_two_thousand_questions_is_quick():
    words = "council refuse ehcp assessment tribunal appeal transport exclusion autism".split()
    asked = [
        (f"{words[i % 9]} {words[(i * 7) % 9]} question{i % 400} topic{i % 37}", "clarify", "c", i)
        for i in range(2000)
    ]
    started = time.perf_counter()
    gaps = group_questions(asked, limit=2000)
    assert time.perf_counter() - started < 2.0
    assert sum(g["count"] for g in gaps) == 2000


# --- analytics ------------------------------------------------------------------------------
@pytest.fixture
def known(urls) -> TranscriptStore:
    """Three conversations over three days (none on the middle one), with feedback."""
    events_url, cases_url = urls
    events = Events()
    events.session("mon-1", at=T0)
    events.ask("mon-1", "what is a senco", "answer", article="senco", reply="SENCO answer")
    events.ask("mon-1", "what is an iep", "clarify")
    events.ask("mon-1", "thanks", "smalltalk", intent="thanks")
    events.session("mon-2", at=T0 + 3600)
    events.ask("mon-2", "what is a senco", "answer", article="senco")
    events.ask("mon-2", "what is an ehcp", "answer", article="ehcp")
    events.ask("mon-2", "can the council refuse an ehcp", "escalate")
    events.session("wed", at=T0 + 2 * DAY)
    events.ask("wed", "he said he wants to kill himself", "safeguarding", intent="safeguarding")
    events.ask("wed", "what is an ehcp", "answer", article="ehcp", reply="EHCP answer")
    write_events(events_url, events.rows)
    cases = CaseStore(cases_url)
    senco = next(r["data"] for r in events.rows if r["data"].get("text") == "SENCO answer")
    ehcp = next(r["data"] for r in events.rows if r["data"].get("text") == "EHCP answer")
    cases.record_feedback("mon-1", message_id(senco["timestamp"], senco["text"]), "senco", True)
    cases.record_feedback("wed", message_id(ehcp["timestamp"], ehcp["text"]), "ehcp", False)
    cases.record_feedback("deleted-long-ago", "0" * 16, "senco", True)  # no events: not counted
    return TranscriptStore(events_url, cases_url)


def test_analytics_numbers(known):
    created = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    waits = [(created, created + timedelta(minutes=m)) for m in (1, 2, 3, 4, 30)]
    waits += [(created, None), (created, created - timedelta(minutes=5))]  # unclaimed, bad
    numbers = known.analytics(waits=waits)
    assert numbers["per_day"] == [("2026-03-02", 2), ("2026-03-03", 0), ("2026-03-04", 1)]
    assert numbers["routes"] == {
        "answer": 4,
        "clarify": 1,
        "escalate": 1,
        "safeguarding": 1,
        "smalltalk": 1,
    }
    assert numbers["route_shares"]["answer"] == 0.5
    assert numbers["route_shares"]["clarify"] == 0.125
    assert numbers["top_articles"] == [("ehcp", 2), ("senco", 2)]
    assert numbers["feedback"] == {"helpful": 1, "unhelpful": 1}
    assert numbers["waits"] == {"count": 5, "median_minutes": 3.0, "p90_minutes": 30.0}


def test_analytics_since(known):
    numbers = known.analytics(since=T0 + DAY)
    assert numbers["per_day"] == [("2026-03-04", 1)]
    assert numbers["routes"]["answer"] == 1 and numbers["routes"]["safeguarding"] == 1
    assert numbers["route_shares"]["answer"] == 0.5
    # The feedback rows were all written just now, after since.
    assert numbers["feedback"] == {"helpful": 1, "unhelpful": 1}
    assert known.analytics(since=time.time() + 60)["feedback"] == {"helpful": 0, "unhelpful": 0}
    assert known.analytics()["waits"] == {"count": 0, "median_minutes": None, "p90_minutes": None}


def test_analytics_days_are_london_days(urls):
    events_url, _ = urls
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (summer time).
    late = datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc).timestamp()
    write_events(events_url, Events().ask("c", "q", "answer", at=late).rows)
    assert TranscriptStore(events_url).analytics()["per_day"] == [("2026-07-02", 1)]


# --- deletion, retention, caching, bad rows ---------------------------------------------------
def test_deleting_a_conversation_removes_only_its_rows(real, urls):
    engine = sa.create_engine(urls[0], future=True)

    def rows_of(sender: str) -> int:
        with engine.connect() as db:
            return db.execute(
                sa.select(sa.func.count()).where(events_table.c.sender_id == sender)
            ).scalar_one()

    before = {sender: rows_of(sender) for sender in REAL_CONVERSATIONS}
    real.conversations()  # the cache holds it
    assert real.delete_conversation("conv-safe") == before["conv-safe"] == 14
    assert rows_of("conv-safe") == 0
    assert all(rows_of(s) == before[s] for s in REAL_CONVERSATIONS - {"conv-safe"})
    assert real.conversation("conv-safe") is None
    assert {s.conversation_id for s in real.conversations()} == REAL_CONVERSATIONS - {"conv-safe"}
    assert real.delete_conversation("conv-safe") == 0
    # A fresh store reads the same.
    fresh = TranscriptStore(*urls)
    assert {s.conversation_id for s in fresh.conversations()} == REAL_CONVERSATIONS - {"conv-safe"}


def test_retention_lists_conversations_last_active_before_the_cutoff(urls):
    events_url, _ = urls
    events = Events()
    events.session("opened-only", at=T0)  # no parent message, still to be deleted
    events.ask("old", "q", "answer", at=T0 + 10)
    events.ask("old-but-back", "q", "answer", at=T0 + 20)
    events.ask("recent", "q", "answer", at=T0 + 40 * DAY)
    events.ask("old-but-back", "q", "answer", at=T0 + 41 * DAY)
    write_events(events_url, events.rows)
    store = TranscriptStore(events_url)
    assert store.conversations_last_active_before(T0 + 30 * DAY) == ["opened-only", "old"]
    assert store.conversations_last_active_before(T0) == []
    for conversation_id in store.conversations_last_active_before(T0 + 30 * DAY):
        assert store.delete_conversation(conversation_id) > 0
    assert store.conversations_last_active_before(T0 + 30 * DAY) == []


def test_new_rows_are_read_incrementally_and_outside_deletions_reload(urls, monkeypatch):
    events_url, _ = urls
    write_events(events_url, Events().ask("a", "what is a senco", "answer").rows)
    store = TranscriptStore(events_url)
    assert store.conversation("a")[0].turns == 1
    reads: list[tuple[int, int]] = []
    original = store._rows

    def counting(db, after, upto):
        reads.append((after, upto))
        return original(db, after, upto)

    monkeypatch.setattr(store, "_rows", counting)
    store.conversations()
    store.content_gaps()
    assert reads == []  # nothing new: nothing read
    # A later turn of the same conversation, then a new conversation.
    write_events(events_url, Events(T0 + 100).ask("a", "what is an iep", "clarify").rows)
    write_events(events_url, Events(T0 + 200).ask("b", "hi", "smalltalk").rows)
    _, turns = store.conversation("a")
    assert [t.route for t in turns] == ["answer", "clarify"]
    assert reads == [(4, 12)]  # only the new rows
    # Rows deleted by someone else (another process's retention job): everything is reread.
    engine = sa.create_engine(events_url, future=True)
    with engine.begin() as db:
        db.execute(events_table.delete().where(events_table.c.sender_id == "a"))
    assert [s.conversation_id for s in store.conversations()] == ["b"]
    assert reads[-1] == (0, 12)
    # The store's own deletions need no rereading.
    write_events(events_url, Events(T0 + 300).ask("c", "hello", "smalltalk").rows)
    assert store.delete_conversation("b") == 4
    assert [s.conversation_id for s in store.conversations()] == ["c"]
    assert reads[-1] == (12, 16)


def test_malformed_rows_are_skipped_and_odd_events_tolerated(urls, caplog):
    events_url, _ = urls
    events = Events()
    events.raw("c", "{not json").raw("c", "[1, 2]").raw("c", "null").raw("c", None)
    events.raw(None, json.dumps({"event": "user", "text": "no sender"}))
    events.raw("c", {"event": "user"})  # no text, no timestamp, no parse data
    events.raw("c", {"event": "bot", "text": 5, "timestamp": "yesterday", "metadata": [1]})
    events.raw("c", {"event": "slot", "name": "route", "value": {"odd": True}})
    events.raw("c", {"no": "event type"})
    events.raw(
        "c",
        {
            "event": "user",
            "text": "what is a senco",
            "timestamp": T0,
            "parse_data": json.dumps({"intent": {"name": "kb_senco", "confidence": "high"}}),
            "metadata": {"display": 7},
            "input_channel": None,
        },
    )
    events.raw("c", {"event": "bot", "timestamp": T0 + 1, "data": {"buttons": "none"}})
    events.raw("c", {"event": "bot", "timestamp": T0 + 2, "text": "SENCO answer", "data": None})
    events.raw("c", {"event": "slot", "name": "route", "value": "answer", "timestamp": T0 + 3})
    write_events(events_url, events.rows)
    store = TranscriptStore(events_url)
    with caplog.at_level(logging.WARNING, logger="bot.cases.transcripts"):
        summary, turns = store.conversation("c")
    assert len([r for r in caplog.records if "Skipping events row" in r.message]) == 5
    assert summary.channel == "unknown" and summary.turns == 2
    assert (turns[0].text, turns[0].intent, turns[0].route) == ("", None, None)
    assert [r["text"] for r in turns[0].replies] == ["5"]
    last = turns[1]
    assert (last.text, last.intent, last.confidence, last.route) == (
        "what is a senco",
        "kb_senco",
        None,
        "answer",
    )
    assert [r["text"] for r in last.replies] == ["SENCO answer"]
    assert store.content_gaps() == [] and store.analytics()["routes"]["answer"] == 1
    # Logged once per row, not again when everything is reread.
    caplog.clear()
    write_events(events_url, Events().ask("other", "hi", "smalltalk").rows)
    with caplog.at_level(logging.WARNING, logger="bot.cases.transcripts"):
        assert len(store.conversations()) == 2
        with sa.create_engine(events_url, future=True).begin() as db:  # elsewhere: it rereads
            db.execute(events_table.delete().where(events_table.c.sender_id == "other"))
        assert store.conversation("c")[0].turns == 2
        assert store.conversation("other") is None
    assert caplog.records == []
