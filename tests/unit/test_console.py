"""The adviser console over real HTTP (served on a free loopback port), with Rasa replaced by a
recorder, and conversations written into SQLite tables the way Rasa's SQL event broker and
tracker store write them: logins, permissions, CSRF, lock-out, the queue, transcripts with
redaction, corrections, exports, erasure and retention."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml

from bot.adviser.console import accounts as accounts_module
from bot.adviser.console.__main__ import main as console_main
from bot.adviser.console.accounts import (
    ADDRESS_FAILURES,
    ADDRESS_MINUTES,
    LOCKOUT_ATTEMPTS,
    Accounts,
)
from bot.adviser.console.app import ConsoleSettings, create_app
from bot.adviser.console.erasure import Eraser, tracker_events
from bot.cases.db import events_table
from bot.cases.store import CaseStore
from bot.contract import Case, Priority, Reason, message_id
from tests.helpers.serving import FakeRasa, serving

PASSWORDS = {"ana": "correct horse battery", "sam": "staple gun lighthouse"}
NOW = time.time()


# --- data: conversations as Rasa stores them ---------------------------------------------------
def turn_events(text: str, intent: str, confidence: float, route: str, article: str | None,
                reply: str, at: float, display: str | None = None) -> list[dict]:  # fmt: skip
    user = {
        "event": "user", "text": text, "timestamp": at, "input_channel": "widget",
        "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": []},
        "metadata": {"display": display} if display else {},
    }  # fmt: skip
    bot = {"event": "bot", "text": reply, "timestamp": at + 0.5, "data": {},
           "metadata": {"article": article} if article else {}}  # fmt: skip
    return [
        user,
        {"event": "action", "name": "action_answer", "timestamp": at + 0.4},
        bot,
        {"event": "slot", "name": "route", "value": route, "timestamp": at + 0.6},
        {"event": "slot", "name": "kb_article", "value": article, "timestamp": at + 0.6},
        {"event": "action", "name": "action_listen", "timestamp": at + 0.7},
    ]


CONVERSATIONS = {
    "conv-jack": [
        *turn_events(
            "my son Jack is 7, email me at jo.bloggs@example.com, who is the senco",
            "kb_senco", 0.91, "answer", "senco", "The SENCO is the school's co-ordinator.",
            NOW - 3600,
        ),
        *turn_events(
            "can the council refuse an ehcp assessment", "out_ehcp_refusal", 0.8, "escalate",
            None, "That needs an adviser.", NOW - 3500,
        ),
    ],
    "conv-old": turn_events(
        "what is sen support", "kb_sen_support", 0.95, "answer", "sen-support",
        "SEN Support is ...", NOW - 400 * 86400,
    ),
    "conv-gap": [
        *turn_events("=HYPERLINK(\"http://evil\") blah", "nlu_fallback", 0.2, "clarify", None,
                     "I'm not sure I've understood.", NOW - 1800),  # fmt: skip
        *turn_events("does the council pay for a tutor", "nlu_fallback", 0.3, "clarify", None,
                     "I'm not sure I've understood.", NOW - 1700),  # fmt: skip
    ],
}  # fmt: skip


def write_conversations(settings: ConsoleSettings) -> None:
    for url, table in ((settings.events_db_url, events_table),):
        engine = sa.create_engine(url, future=True)
        table.metadata.create_all(engine)
        with engine.begin() as db:
            for conversation, events in CONVERSATIONS.items():
                for event in events:
                    db.execute(
                        table.insert().values(sender_id=conversation, data=json.dumps(event))
                    )
        engine.dispose()
    engine = sa.create_engine(settings.tracker_db_url, future=True)
    tracker_events.metadata.create_all(engine)
    with engine.begin() as db:
        for conversation, events in CONVERSATIONS.items():
            for event in events:
                db.execute(
                    tracker_events.insert().values(
                        sender_id=conversation, timestamp=event["timestamp"]
                    )
                )
    engine.dispose()


# --- the console, served -----------------------------------------------------------------------
class Browser:
    """A user's requests session, with helpers for the console's forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **kwargs) -> requests.Response:
        reply = self.http.get(self.base + path, allow_redirects=False, **kwargs)
        found = re.search(r'name="csrf_token" value="([^"]+)"', reply.text)
        if found:
            self.csrf = found.group(1)
        return reply

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kwargs):
        form = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.http.post(self.base + path, data=form, allow_redirects=False, **kwargs)

    def login(self, username: str, password: str | None = None) -> requests.Response:
        page = self.http.get(self.base + "/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
        reply = self.http.post(
            self.base + "/login",
            data={"username": username, "password": password or PASSWORDS[username],
                  "login_token": token, "next": "/"},
            allow_redirects=False,
        )  # fmt: skip
        if reply.status_code == 302:
            self.get("/")  # picks up the session's CSRF token
        return reply


@pytest.fixture
def settings(tmp_path: Path) -> ConsoleSettings:
    return ConsoleSettings(
        db_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        events_db_url=f"sqlite:///{tmp_path / 'events.db'}",
        tracker_db_url=f"sqlite:///{tmp_path / 'rasa.db'}",
        rasa_url="http://127.0.0.1:9",
        rasa_jwt_secret="a-test-secret-that-is-long-enough",
        secure_cookies=False,  # requests keeps Secure cookies from plain-http test servers
    )


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def base(settings: ConsoleSettings, rasa: FakeRasa) -> Iterator[str]:
    write_conversations(settings)
    accounts = Accounts(settings.db_url)
    accounts.create_user("ana", "Ana", "admin", PASSWORDS["ana"])
    accounts.create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    with serving(create_app(settings, client=rasa)) as url:
        yield url


@pytest.fixture
def admin(base: str) -> Browser:
    browser = Browser(base)
    assert browser.login("ana").status_code == 302
    return browser


@pytest.fixture
def adviser(base: str) -> Browser:
    browser = Browser(base)
    assert browser.login("sam").status_code == 302
    return browser


def store(settings: ConsoleSettings) -> CaseStore:
    return CaseStore(settings.db_url)


# --- access ------------------------------------------------------------------------------------
GET_PAGES = [
    "/", "/cases/1", "/cases/1/messages.json", "/conversations", "/conversations.csv",
    "/conversations/conv-jack", "/conversations/conv-jack/export.txt",
    "/conversations/conv-jack/export.json", "/corrections", "/gaps", "/analytics", "/audit",
]  # fmt: skip
POST_ACTIONS = [
    "/logout", "/availability", "/cases/1/claim", "/cases/1/messages", "/cases/1/close",
    "/conversations/conv-jack/reveal", "/conversations/conv-jack/turns/0/correct",
    "/conversations/conv-jack/delete", "/corrections/export",
]  # fmt: skip


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_page_sends_an_anonymous_visitor_to_the_login(base: str, path: str) -> None:
    reply = requests.get(base + path, allow_redirects=False)
    assert reply.status_code == 302 and reply.headers["Location"].startswith("/login?next=")
    assert "Jack" not in reply.text and "senco" not in reply.text.lower()


@pytest.mark.parametrize("path", POST_ACTIONS)
def test_every_action_refuses_an_anonymous_request(base: str, path: str) -> None:
    reply = requests.post(base + path, data={"csrf_token": "x"}, allow_redirects=False)
    assert reply.status_code == 401


def test_a_forged_session_cookie_gets_nothing(base: str) -> None:
    reply = requests.get(base + "/", cookies={"sen_console": "forged"}, allow_redirects=False)
    assert reply.status_code == 302


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/audit"),
        ("POST", "/conversations/conv-jack/reveal"),
        ("POST", "/conversations/conv-jack/delete"),
        ("GET", "/conversations/conv-jack/export.txt?reveal=1"),
        ("GET", "/conversations.csv?reveal=1"),
    ],
)
def test_an_adviser_cannot_do_what_only_an_admin_may(adviser: Browser, method, path) -> None:
    if method == "GET":
        reply = adviser.get(path)
    else:
        reply = adviser.post(path, {"reason": "curious", "confirm": "conv-jack"})
    assert reply.status_code == 403 and "Jack" not in reply.text


@pytest.mark.parametrize("path", POST_ACTIONS)
def test_a_form_without_the_right_csrf_token_is_refused(adviser: Browser, path: str) -> None:
    assert adviser.post(path, csrf=False).status_code == 403
    assert adviser.post(path, {"csrf_token": "not-the-token"}, csrf=False).status_code == 403


def test_a_login_form_without_its_token_is_refused(base: str) -> None:
    reply = requests.post(base + "/login", data={"username": "sam", "password": PASSWORDS["sam"]})
    assert reply.status_code == 403 and "sen_console" not in reply.cookies


def test_the_session_cookie_is_http_only_same_site_strict_and_secure(
    settings: ConsoleSettings, rasa: FakeRasa
) -> None:
    Accounts(settings.db_url).create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    with serving(create_app(replace(settings, secure_cookies=True), client=rasa)) as url:
        form = requests.get(url + "/login")
        assert "secure" in form.headers["Set-Cookie"].lower()  # the login form's cookie too
        token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
        # requests won't send a Secure cookie to a plain-http server: send it by hand.
        reply = requests.post(
            url + "/login",
            data={"username": "sam", "password": PASSWORDS["sam"], "login_token": token},
            headers={"Cookie": f"sen_console_login={form.cookies['sen_console_login']}"},
            allow_redirects=False,
        )
    cookie = reply.headers["Set-Cookie"]
    assert reply.status_code == 302 and "sen_console=" in cookie
    for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
        assert flag.lower() in cookie.lower()


def test_repeated_failed_logins_lock_the_account(base: str) -> None:
    browser = Browser(base)
    for _ in range(LOCKOUT_ATTEMPTS):
        assert browser.login("sam", "wrong password!!").status_code == 401
    locked = browser.login("sam")  # the right password, too late
    assert locked.status_code == 401 and "locked" in locked.text
    assert Browser(base).login("ana").status_code == 302  # other accounts are unaffected


def test_a_lock_ends_after_its_time_and_success_resets_the_count(tmp_path: Path) -> None:
    clock = [datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)]
    accounts = Accounts(f"sqlite:///{tmp_path / 'a.db'}", now=lambda: clock[0])
    accounts.create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    for _ in range(LOCKOUT_ATTEMPTS - 1):
        assert accounts.login("sam", "nope").session_token is None
    assert accounts.login("sam", PASSWORDS["sam"]).session_token  # resets the count
    for _ in range(LOCKOUT_ATTEMPTS - 1):
        accounts.login("sam", "nope")
    assert not accounts.login("sam", "nope").session_token
    assert accounts.login("sam", PASSWORDS["sam"]).locked
    clock[0] += timedelta(minutes=16)
    assert accounts.login("sam", PASSWORDS["sam"]).session_token


def counting_checks(monkeypatch) -> list[str]:
    """Every password check the accounts make, by the hash checked against."""
    checks: list[str] = []
    verify = accounts_module._verify

    def counted(password_hash: str, password: str) -> bool:
        checks.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(accounts_module, "_verify", counted)
    return checks


def test_parallel_wrong_logins_get_no_more_password_checks_than_the_lock_allows(
    tmp_path: Path, monkeypatch
) -> None:
    # The black-box test's race: thirty wrong logins sent ten at a time got 29 checked.
    accounts = Accounts(f"sqlite:///{tmp_path / 'race.db'}")
    accounts.create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    checks = counting_checks(monkeypatch)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: accounts.login("sam", "guess", "203.0.113.9"), range(30)))
    assert len(checks) <= LOCKOUT_ATTEMPTS
    assert sum(result.locked for result in results) >= 30 - LOCKOUT_ATTEMPTS
    checks.clear()
    assert accounts.login("sam", PASSWORDS["sam"], "203.0.113.9").locked and not checks


def test_a_stranger_cannot_lock_an_adviser_out_from_another_address(tmp_path: Path) -> None:
    clock = [datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)]
    accounts = Accounts(f"sqlite:///{tmp_path / 'a.db'}", now=lambda: clock[0])
    accounts.create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    for _ in range(LOCKOUT_ATTEMPTS):
        accounts.login("sam", "nope", "203.0.113.9")
    assert accounts.login("sam", PASSWORDS["sam"], "203.0.113.9").locked
    assert accounts.login("sam", PASSWORDS["sam"], "198.51.100.7").session_token
    # An address that fails too often is refused for any account, then forgiven.
    for number in range(ADDRESS_FAILURES):
        accounts.login(f"someone{number}", "nope", "192.0.2.1")
    assert accounts.login("sam", PASSWORDS["sam"], "192.0.2.1").locked
    assert accounts.login("sam", PASSWORDS["sam"], "198.51.100.7").session_token
    clock[0] += timedelta(minutes=ADDRESS_MINUTES + 1)
    assert accounts.login("sam", PASSWORDS["sam"], "192.0.2.1").session_token


def test_an_unknown_username_is_answered_exactly_as_a_wrong_password(
    base: str, monkeypatch
) -> None:
    checks = counting_checks(monkeypatch)

    def answers(username: str) -> list[tuple[int, str]]:
        browser, got = Browser(base), []
        for _ in range(LOCKOUT_ATTEMPTS + 1):
            reply = browser.login(username, "wrong password!!")
            got.append((reply.status_code, re.sub(r'value="[^"]*"', "", reply.text)))
        return got

    known = answers("sam")
    assert len(checks) == LOCKOUT_ATTEMPTS  # then locked: no check
    checks.clear()
    assert answers("nobody-here") == known
    assert len(checks) == LOCKOUT_ATTEMPTS  # a dummy hash is checked for an unknown user too


@pytest.mark.parametrize("case_id", ["99999999999999999999"])
def test_a_case_id_too_large_for_the_database_is_a_404(adviser: Browser, case_id: str) -> None:
    assert adviser.get(f"/cases/{case_id}").status_code == 404
    assert adviser.get(f"/cases/{case_id}/messages.json").status_code == 404
    for action in ("claim", "close", "messages"):
        reply = adviser.post(f"/cases/{case_id}/{action}", {"outcome": "x", "text": "x"})
        assert reply.status_code == 404


def test_sessions_end_when_idle_and_at_logout(tmp_path: Path, adviser: Browser) -> None:
    clock = [datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)]
    accounts = Accounts(f"sqlite:///{tmp_path / 'b.db'}", now=lambda: clock[0])
    accounts.create_user("sam", "Sam", "adviser", PASSWORDS["sam"])
    token = accounts.login("sam", PASSWORDS["sam"]).session_token
    clock[0] += timedelta(minutes=29)
    assert accounts.session(token) is not None
    clock[0] += timedelta(minutes=31)
    assert accounts.session(token) is None

    assert adviser.get("/").status_code == 200
    assert adviser.post("/logout").status_code == 302
    assert adviser.get("/").status_code == 302


def test_passwords_are_stored_as_argon2_hashes(settings: ConsoleSettings, base: str) -> None:
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as db:
        hashes = [row[0] for row in db.execute(sa.text("SELECT password_hash FROM console_users"))]
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(p in h for h in hashes for p in PASSWORDS.values())


def test_login_never_redirects_to_another_site(base: str) -> None:
    browser = Browser(base)
    page = browser.http.get(base + "/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    reply = browser.http.post(
        base + "/login",
        data={"username": "sam", "password": PASSWORDS["sam"], "login_token": token,
              "next": "//evil.example/"},
        allow_redirects=False,
    )  # fmt: skip
    assert reply.headers["Location"] == "/"


# --- the case queue ------------------------------------------------------------------------------
def test_the_queue_lists_urgent_cases_first_and_an_adviser_works_a_case(
    settings: ConsoleSettings, adviser: Browser, rasa: FakeRasa
) -> None:
    cases = store(settings)
    normal = cases.open_case(Case("conv-jack", "widget", Reason.PARENT_ASKED))
    urgent = cases.open_case(
        Case("conv-gap", "widget", Reason.SAFEGUARDING, priority=Priority.URGENT)
    )
    page = adviser.get("/").text
    assert page.index(urgent.reference) < page.index(normal.reference)
    assert "Urgent" in page

    assert adviser.post("/availability", {"available": "yes"}).status_code == 302
    assert cases.adviser("sam").available
    assert adviser.post(f"/cases/{normal.id}/claim").status_code == 302
    assert ("pause", "conv-jack") in rasa.sent()
    assert ("bot", "conv-jack", "Sam, an adviser, has joined the chat.") in rasa.sent()
    rasa.transcripts["conv-jack"] = [{"from": "parent", "text": "hello?", "timestamp": 1.0}]
    page = adviser.get(f"/cases/{normal.id}").text
    assert "hello?" in page and 'id="reply"' in page

    # The page's script sends with the CSRF header and polls for new messages.
    sent = adviser.http.post(
        f"{adviser.base}/cases/{normal.id}/messages",
        data={"text": "Hi, I'm Sam."},
        headers={"X-CSRF-Token": adviser.csrf},
    )
    assert sent.status_code == 201
    assert ("adviser", "conv-jack", "Sam", "Hi, I'm Sam.") in rasa.sent()
    polled = adviser.get(f"/cases/{normal.id}/messages.json").json()
    assert polled["messages"][0]["text"] == "hello?" and polled["status"] == "live"

    assert adviser.post(f"/cases/{normal.id}/close", {"outcome": ""}).status_code == 400
    assert adviser.post(f"/cases/{normal.id}/close", {"outcome": "Answered"}).status_code == 302
    assert cases.get(normal.id).status.value == "closed"
    assert ("resume", "conv-jack") in rasa.sent()


def test_html_in_a_parents_message_is_shown_as_text(
    settings: ConsoleSettings, adviser: Browser, rasa: FakeRasa
) -> None:
    case = store(settings).open_case(Case("conv-jack", "widget", Reason.PARENT_ASKED))
    rasa.transcripts["conv-jack"] = [
        {"from": "parent", "text": "<script>alert(1)</script>", "timestamp": 1.0}
    ]
    page = adviser.get(f"/cases/{case.id}")
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


# --- transcripts ---------------------------------------------------------------------------------
def test_conversations_are_listed_filtered_and_searched(adviser: Browser) -> None:
    def listed(query: str) -> set[str]:
        page = adviser.get("/conversations" + query).text
        return set(re.findall(r'href="/conversations/(conv-[a-z]+)"', page))

    assert listed("") == {"conv-jack", "conv-old", "conv-gap"}
    assert listed("?route=escalate") == {"conv-jack"}
    assert listed("?route=clarify") == {"conv-gap"}
    assert listed("?article=sen-support") == {"conv-old"}
    assert listed("?q=tutor") == {"conv-gap"}
    assert listed("?channel=widget&from=2020-01-01") >= {"conv-jack"}
    day = datetime.fromtimestamp(NOW - 400 * 86400, timezone.utc).strftime("%Y-%m-%d")
    assert listed(f"?from={day}&to={day}") == {"conv-old"}
    assert adviser.get("/conversations?route=nonsense").status_code == 400
    assert adviser.get("/conversations?from=yesterday").status_code == 400


def test_a_transcript_is_redacted_by_default_and_an_admin_reveal_is_logged(
    admin: Browser, adviser: Browser
) -> None:
    page = adviser.get("/conversations/conv-jack").text
    assert "Jack" not in page and "jo.bloggs@example.com" not in page
    assert "[NAME]" in page and "[EMAIL]" in page
    assert "kb_senco" in page and "0.91" in page and "escalate" in page and "senco" in page

    assert admin.post("/conversations/conv-jack/reveal", {"reason": ""}).status_code == 400
    revealed = admin.post("/conversations/conv-jack/reveal", {"reason": "parent's request"})
    assert revealed.status_code == 200 and "Jack" in revealed.text
    log = admin.get("/audit").text
    assert "reveal" in log and "parent&#39;s request" in log and "view" in log


def test_the_parents_feedback_shows_on_its_turn(settings: ConsoleSettings, adviser) -> None:
    reply = "The SENCO is the school's co-ordinator."
    store(settings).record_feedback(
        "conv-jack", message_id(NOW - 3600 + 0.5, reply), "senco", False
    )
    assert (
        "parent's feedback: <strong>not helpful</strong>"
        in adviser.get("/conversations/conv-jack").text
    )
    assert "conv-jack" in adviser.get("/conversations?feedback=unhelpful").text


def test_exports_are_redacted_unless_an_admin_asks_and_that_is_logged(
    admin: Browser, adviser: Browser
) -> None:
    text = adviser.get("/conversations/conv-jack/export.txt")
    assert text.status_code == 200 and "attachment" in text.headers["Content-Disposition"]
    assert "Jack" not in text.text and "[NAME]" in text.text and "Parent: " in text.text
    data = adviser.get("/conversations/conv-jack/export.json").json()
    assert data["redacted"] and "Jack" not in json.dumps(data)
    assert data["turns"][0]["intent"] == "kb_senco"
    assert "Jack" in admin.get("/conversations/conv-jack/export.txt?reveal=1").text

    rows = list(csv.reader(io.StringIO(adviser.get("/conversations.csv").text)))
    assert rows[0][:5] == ["conversation", "channel", "time", "from", "text"]
    assert {r[0] for r in rows[1:]} == {"conv-jack", "conv-old", "conv-gap"}
    assert not any("Jack" in cell for row in rows for cell in row)
    assert not any(row[4].startswith("=") for row in rows[1:])  # no spreadsheet formulas
    log = admin.get("/audit").text
    assert "export_range" in log and "unredacted" in log


def test_an_admin_deletes_a_conversation_everywhere(settings: ConsoleSettings, admin) -> None:
    cases = store(settings)
    cases.open_case(Case("conv-jack", "widget", Reason.PARENT_ASKED))
    cases.record_feedback("conv-jack", "0" * 16, "senco", True)
    assert admin.post("/conversations/conv-jack/turns/0/correct", {"intent": "kb_senco"})
    assert admin.post("/conversations/conv-jack/delete", {"confirm": "nope"}).status_code == 400
    assert (
        admin.post("/conversations/conv-jack/delete", {"confirm": "conv-jack"}).status_code == 302
    )
    assert admin.get("/conversations/conv-jack").status_code == 404
    assert cases.cases(conversation_id="conv-jack") == [] and cases.feedback("conv-jack") == []
    for url in (settings.events_db_url, settings.tracker_db_url):
        with sa.create_engine(url).connect() as db:
            left = db.execute(sa.text("SELECT count(*) FROM events WHERE sender_id='conv-jack'"))
            assert left.scalar() == 0
    assert "conv-jack" not in admin.get("/corrections").text
    assert "delete" in admin.get("/audit").text


# --- improving the bot ---------------------------------------------------------------------------
def test_a_turn_marked_wrong_is_exported_as_redacted_rasa_training_data(adviser) -> None:
    assert (
        adviser.post(
            "/conversations/conv-jack/turns/0/correct", {"intent": "not_an_intent"}
        ).status_code
        == 400
    )
    reply = adviser.post(
        "/conversations/conv-jack/turns/0/correct", {"intent": "kb_parent_involvement"}
    )
    assert reply.status_code == 302
    assert "kb_parent_involvement" in adviser.get("/corrections").text
    exported = adviser.post("/corrections/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    text = exported.text
    assert "Jack" not in text and "jo.bloggs" not in text and "[" not in text.split("nlu:")[1]
    data = yaml.safe_load(text)
    block = data["nlu"][0]
    assert block["intent"] == "kb_parent_involvement"
    assert "who is the senco" in block["examples"]

    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    training = RasaYAMLReader().reads(text)
    assert [m.get("intent") for m in training.training_examples] == ["kb_parent_involvement"]
    assert training.training_examples[0].get("entities") in (None, [])


def test_content_gaps_and_analytics_pages_show_the_figures(adviser: Browser) -> None:
    gaps = adviser.get("/gaps").text
    assert "does the council pay for a tutor" in gaps
    assert "can the council refuse an ehcp assessment" in gaps
    analytics = adviser.get("/analytics").text
    assert analytics.count("<svg") == 4 and 'role="img"' in analytics
    assert "<td>answer</td><td>2</td>" in analytics.replace("\n", "")


def test_any_stored_text_leaves_every_page_and_export_working(settings, adviser) -> None:
    """One anonymous message must not break the console for every adviser: an unpaired surrogate
    in the widget's display field, a NUL and other control characters in the text."""
    events = turn_events(
        "does the school\x00 have to\x1b[31m tell me", "nlu_fallback", 0.2, "clarify", None,
        "I'm not sure I've understood.", NOW - 1600, display="broken \ud800 display",
    )  # fmt: skip
    engine = sa.create_engine(settings.events_db_url, future=True)
    with engine.begin() as db:
        for event in events:
            db.execute(events_table.insert().values(sender_id="conv-bad", data=json.dumps(event)))
    engine.dispose()
    engine = sa.create_engine(settings.tracker_db_url, future=True)
    with engine.begin() as db:
        for event in events:
            db.execute(
                tracker_events.insert().values(sender_id="conv-bad", timestamp=event["timestamp"])
            )
    engine.dispose()
    for path in (
        "/gaps",
        "/analytics",
        "/conversations",
        "/conversations/conv-bad",
        "/conversations/conv-bad/export.txt",
        "/conversations/conv-bad/export.json",
        "/conversations.csv",
    ):
        reply = adviser.get(path)
        assert reply.status_code == 200, path
        assert "\x00" not in reply.text and "\x1b" not in reply.text, path
        assert "\ud800" not in reply.text, path
    assert "broken \ufffd display" in adviser.get("/conversations/conv-bad/export.txt").text


# --- commands ---------------------------------------------------------------------------------
def test_retention_deletes_only_what_is_older_than_the_period(
    settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_conversations(settings)
    removed = Eraser(settings).apply_retention(days=365)
    assert removed["conversations"] == 1
    with sa.create_engine(settings.events_db_url).connect() as db:
        senders = {r[0] for r in db.execute(sa.text("SELECT DISTINCT sender_id FROM events"))}
    assert senders == {"conv-jack", "conv-gap"}
    with pytest.raises(ValueError):
        Eraser(settings).apply_retention(days=0)


def test_create_user_from_the_command_line(settings, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("SEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEN_RASA_JWT_SECRET", "a-test-secret-that-is-long-enough")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert console_main(["create-user", "kim", "Kim", "--password-stdin"]) == 2
    assert "at least 12" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase\n"))
    assert console_main(["create-user", "kim", "Kim", "--role", "admin", "--password-stdin"]) == 0
    accounts = Accounts(f"sqlite:///{tmp_path / 'handoff.db'}")
    assert accounts.user("kim").is_admin
    assert accounts.login("kim", "a long enough passphrase").session_token
    assert CaseStore(f"sqlite:///{tmp_path / 'handoff.db'}").adviser("kim").first_name == "Kim"
