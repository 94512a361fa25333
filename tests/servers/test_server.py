"""The real Rasa server and action server, started by the test run, over the REST channel."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.assistant import replies
from bot.assistant.safeguarding import SAFEGUARDING_REPLY
from bot.cases.store import CaseStore
from bot.contract import Reason, Status
from bot.ops.servers import Servers
from tests.helpers.ports import free_ports
from tests.helpers.socketio_parent import SocketParent

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
RASA_PORT, ACTIONS_PORT, ADVISER_PORT = free_ports(3)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    data_dir = tmp_path_factory.mktemp("server-data")
    # These tests start some fifty conversations from this one address: no SEN_SESSION_LIMIT
    # (tests/servers/test_security.py checks it).
    extra = {"SEN_SESSION_LIMIT": "off"}
    with Servers(
        MODEL, RASA_PORT, ACTIONS_PORT, ADVISER_PORT, data_dir=data_dir, extra_env=extra
    ) as s:
        yield s


def post(servers, body: bytes | dict, path: str = "/webhooks/rest/webhook"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        servers.url + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# The REST channel issues conversation ids with signed tokens (bot/channels/rest.py): the token
# of each conversation these tests started, by its id.
_tokens: dict[str, str] = {}


def new_conversation(servers) -> str:
    status, session = post(servers, b"", "/webhooks/rest/session")
    assert status == 200
    _tokens[session["sender"]] = session["token"]
    return session["sender"]


def say(servers, text: str, sender: str | None = None) -> tuple[str, list[dict]]:
    sender = sender or new_conversation(servers)
    status, messages = post(servers, {"sender": sender, "token": _tokens[sender], "message": text})
    assert status == 200
    return sender, messages


def cases(servers) -> CaseStore:
    return CaseStore(f"sqlite:///{servers.data_dir / 'handoff.db'}")


def texts(messages: list[dict]) -> str:
    return " ".join(m.get("text", "") for m in messages)


def slots(servers, sender: str) -> dict:
    request = urllib.request.Request(
        f"{servers.url}/conversations/{sender}/tracker", headers=servers.api_headers()
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())["slots"]


def test_a_parent_is_told_what_the_bot_is_then_answered_with_a_source(servers):
    sender, messages = say(servers, "my ds is 7 who is the senco and what do they do")
    assert "automated" in messages[0]["text"]
    answer = messages[-1]
    assert "SENCO" in answer["text"] and "Source: SEN Support guidance" in answer["text"]
    assert answer["buttons"][-1]["title"] == "Talk to an adviser"
    state = slots(servers, sender)
    assert (state["route"], state["kb_article"]) == ("answer", "senco")


def test_a_parent_on_the_website_channel_gets_answers_over_socketio(servers):
    parent = SocketParent(servers.url).connect()
    try:
        # The introduction comes as soon as the session starts, before the first question.
        assert any("automated" in m["text"] for m in parent.messages())
        parent.say("whats an ed psych and what do they do")
        answers = parent.messages()
        assert parent.acks.get(timeout=5) == {"ok": True}
    finally:
        parent.close()
    answer = answers[-1]
    assert "Educational Psychologist" in answer["text"] or "EP" in answer["text"]
    assert "Source: SEN Support guidance" in answer["text"]
    assert (
        answer["from"] == "bot"
        and answer["article"] == slots(servers, parent.session_id)["kb_article"]
    )
    assert answer["buttons"][-1] == {"title": "Talk to an adviser", "payload": "/request_human"}


def test_the_server_issues_the_conversation_id_and_the_page_cannot_choose_one(servers):
    parent = SocketParent(servers.url).connect({"session_id": "my-chosen-id", "token": None})
    other = SocketParent(servers.url).connect()
    try:
        assert parent.new and parent.session_id not in ("my-chosen-id", other.session_id)
        # A made-up or altered token gets a new conversation, never the one it names.
        forged = other.token.replace(other.session_id, parent.session_id)
        intruder = SocketParent(servers.url, token=forged).connect()
        assert intruder.new and intruder.session_id != parent.session_id
        intruder.close()
        # Messages with a token that does not verify are refused and reach no tracker.
        ack = parent.call("user_uttered", {"message": "hello", "token": forged})
        assert ack == {"ok": False, "error": "session"}
        ack = parent.call("user_uttered", {"message": "hi", "session_id": other.session_id})
        assert ack == {"ok": False, "error": "session"}
        assert all(m["from"] != "parent" for m in SocketParent(servers.url, other.token)
                   .connect().history)  # fmt: skip
    finally:
        parent.close()
        other.close()


def test_the_widget_channel_refuses_bad_messages_politely(servers):
    parent = SocketParent(servers.url).connect()
    try:
        assert parent.call("user_uttered", {"message": "   ", "token": parent.token}) == {
            "ok": False,
            "error": "empty",
        }
        ack = parent.call("user_uttered", {"message": "x" * 4001, "token": parent.token})
        assert ack["error"] == "too_long"
        assert parent.call("user_uttered", ["not", "a", "dict"]) == {
            "ok": False,
            "error": "session",
        }
        assert parent.call("queue_status", {"token": "nonsense"}) == {"status": "none"}
        bad = {"token": parent.token, "message_id": "1" * 16, "article": "no-such", "helpful": 1}
        assert parent.call("feedback", bad) == {"ok": False, "error": "invalid"}
    finally:
        parent.close()


def test_a_reload_restores_the_conversation_with_feedback_and_the_button_titles(servers):
    parent = SocketParent(servers.url).connect()
    try:
        parent.messages()
        parent.say("/kb_senco", display="The SENCO", client_id="c0ffee")
        answer = parent.messages()[-1]
        ack = parent.call(
            "feedback",
            {
                "token": parent.token,
                "message_id": answer["id"],
                "article": "senco",
                "helpful": True,
            },
        )
        assert ack == {"ok": True}
    finally:
        parent.close()
    assert cases(servers).feedback_for(parent.session_id) == {answer["id"]: True}
    again = SocketParent(servers.url, token=parent.token).connect()
    try:
        assert again.session_id == parent.session_id and not again.new
        shown = {m["id"]: m for m in again.history}
        assert shown["c0ffee"]["text"] == "The SENCO" and shown["c0ffee"]["from"] == "parent"
        assert shown[answer["id"]]["helpful"] is True
        assert shown[answer["id"]]["text"] == answer["text"]
    finally:
        again.close()


def test_widget_feedback_is_taken_once_and_only_for_this_conversations_answers(servers):
    parent = SocketParent(servers.url).connect()
    stranger = SocketParent(servers.url).connect()
    try:
        parent.messages()
        parent.say("who is the senco and what do they do")
        answer = parent.messages()[-1]
        assert answer["article"] == "senco"

        def vote(who: SocketParent, message_id: str, helpful: bool = True, **extra) -> dict:
            data = {"token": who.token, "message_id": message_id, "article": "senco"}
            return who.call("feedback", {**data, "helpful": helpful, **extra})

        # Invented ids and another conversation's answer are refused and store nothing.
        assert vote(parent, "0123456789abcdef") == {"ok": False, "error": "unknown_message"}
        assert vote(stranger, answer["id"]) == {"ok": False, "error": "unknown_message"}
        assert vote(parent, answer["id"], padding="x" * 30_000) == {
            "ok": False,
            "error": "invalid",
        }
        # The real answer's id: taken once; a second vote changes nothing.
        assert vote(parent, answer["id"], helpful=False) == {"ok": True}
        assert vote(parent, answer["id"], helpful=True) == {
            "ok": False,
            "error": "already_given",
            "helpful": False,
        }
    finally:
        parent.close()
        stranger.close()
    assert cases(servers).feedback_for(parent.session_id) == {answer["id"]: False}
    assert cases(servers).feedback_for(stranger.session_id) == {}


def test_a_related_topic_button_answers_that_topic(servers):
    sender, messages = say(servers, "what is the graduated approach")
    payload = messages[-1]["buttons"][0]["payload"]
    _, messages = say(servers, payload, sender)
    state = slots(servers, sender)
    assert state["route"] == "answer"
    assert payload == "/kb_" + state["kb_article"].replace("-", "_")


def test_a_question_beyond_the_guidance_is_escalated_and_recorded(servers):
    sender, messages = say(servers, "the council refused to assess my son for an ehcp can i appeal")
    assert "adviser" in messages[-1]["text"]
    assert slots(servers, sender)["route"] == "escalate"
    records = cases(servers).cases(conversation_id=sender)
    assert [r.reason for r in records] == [Reason.BEYOND_GUIDANCE]
    assert records[0].channel == "rest"


def test_a_risk_inside_an_ordinary_question_gets_the_safeguarding_reply(servers):
    sender, messages = say(
        servers,
        "we have a meeting with the senco next week about his reading. he has been "
        "really low and last night he told me he wants to kill himself. what should i ask?",
    )
    texts = [m["text"] for m in messages]
    assert SAFEGUARDING_REPLY in texts
    # Then, truthfully, what happens next, and a way on if the assistant misread the message.
    assert texts[-1] == replies.text("safeguarding.misunderstood")
    found = slots(servers, sender)
    assert found["route"] == "safeguarding"
    assert found["safety_note"] is False


# --- typed payloads (issue 16): Rasa reads "/intent{entities}" as that intent, skipping the NLU
def widget_say(servers, text: str) -> tuple[str, list[dict]]:
    parent = SocketParent(servers.url).connect()
    try:
        parent.messages()  # the introduction
        parent.say(text)
        answers = parent.messages()
        assert parent.acks.get(timeout=5) == {"ok": True}
    finally:
        parent.close()
    return parent.session_id, answers


@pytest.mark.parametrize("channel", ["rest", "widget"])
def test_a_typed_safeguarding_payload_is_read_as_words_and_opens_no_case(servers, channel):
    send = say if channel == "rest" else widget_say
    sender, messages = send(servers, "/safeguarding")
    assert messages, "the parent is answered"
    assert SAFEGUARDING_REPLY not in [m.get("text") for m in messages]
    assert slots(servers, sender)["route"] != "safeguarding"
    assert cases(servers).cases(conversation_id=sender) == []


@pytest.mark.parametrize("channel", ["rest", "widget"])
def test_a_typed_intent_with_entities_is_not_a_hand_off(servers, channel):
    send = say if channel == "rest" else widget_say
    sender, messages = send(servers, '/request_human{"x":1}')
    assert messages, "the parent is answered"
    assert slots(servers, sender)["route"] != "escalate"
    assert cases(servers).cases(conversation_id=sender) == []


def test_the_adviser_button_under_an_answer_still_hands_over_on_rest_and_widget(servers):
    sender, messages = say(servers, "what is a senco")
    button = messages[-1]["buttons"][-1]
    assert button["payload"] == "/request_human"
    say(servers, button["payload"], sender)
    assert slots(servers, sender)["route"] == "escalate"
    [case] = cases(servers).cases(conversation_id=sender)
    assert case.reason is Reason.PARENT_ASKED

    parent = SocketParent(servers.url).connect()
    try:
        parent.messages()
        parent.say("what is a senco")
        button = parent.messages()[-1]["buttons"][-1]
        parent.say(button["payload"], display=button["title"])
        handed = parent.messages()
    finally:
        parent.close()
    assert handed and slots(servers, parent.session_id)["route"] == "escalate"
    [case] = cases(servers).cases(conversation_id=parent.session_id)
    assert case.reason is Reason.PARENT_ASKED and case.channel == "widget"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\U0001f62d\U0001f62d\U0001f62d",
        "???!!!...",
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)>",
        "Mae fy merch yn cael trafferth darllen, beth alla i ei wneud?",
        "Mój syn ma problemy w szkole, co mogę zrobić?",
        "help " * 1000,
    ],
)
def test_bad_input_gets_a_polite_reply(servers, text):
    sender, messages = say(servers, text)
    assert messages, "every message gets a reply"
    for message in messages:
        assert "Traceback" not in message.get("text", "")
        assert "<script>" not in message.get("text", "")
    _, after = say(servers, "what is a senco", sender)
    assert after, "the conversation carries on"


def test_a_broken_request_gets_a_clear_error_not_a_crash(servers):
    status, body = post(servers, b"{not json")
    assert 400 <= status < 500
    assert "Traceback" not in str(body)
    assert say(servers, "hello")[1]


def test_the_http_api_needs_a_jwt(servers):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{servers.url}/conversations/someone/tracker", timeout=10)
    assert error.value.code == 401


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on the port, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_every_server_listens_on_loopback_only(servers):
    loopback = {"0100007F", "00000000000000000000000001000000"}
    for port in (RASA_PORT, ACTIONS_PORT, ADVISER_PORT):
        addresses = listening_addresses(port)
        assert addresses and addresses <= loopback, (port, addresses)


def test_call_back_form_with_valid_details_stores_a_call_back_case(servers):
    sender, asked = say(servers, "/request_callback")
    assert "Do you agree" in texts(asked)  # before any detail is typed
    _, reply = say(servers, "yes", sender)
    assert "How should an adviser contact you?" in texts(reply)
    assert "not a UK phone" not in texts(say(servers, "07700 900123", sender)[1])
    say(servers, "weekday mornings", sender)
    _, done = say(servers, "Jo", sender)
    case = cases(servers).open_case_for(sender)
    assert case.status is Status.CALLBACK_REQUESTED
    assert case.callback.contact == "07700900123" and case.callback.first_name == "Jo"
    assert case.reference in texts(done)


def test_call_back_form_rejects_a_bad_email_and_a_bad_phone_number(servers):
    sender, _ = say(servers, "/request_callback")
    say(servers, "yes", sender)
    _, reply = say(servers, "jo@nowhere", sender)
    assert "email address doesn't look complete" in texts(reply)
    _, reply = say(servers, "0770 09", sender)
    assert "couldn't read that as a UK phone number" in texts(reply)
    _, reply = say(servers, "jo@example.org", sender)
    assert "good time" in texts(reply)


def test_refusing_consent_asks_for_no_details_and_stores_nothing(servers):
    sender, _ = say(servers, "/request_callback")
    _, reply = say(servers, "no", sender)
    assert "haven't asked for your details" in texts(reply)
    assert "How should an adviser contact you?" not in texts(reply)
    assert cases(servers).open_case_for(sender) is None
    found = slots(servers, sender)
    assert found["callback_consent"] is None and found["requested_slot"] is None


def test_stopping_mid_form_keeps_the_conversation_going(servers):
    sender, _ = say(servers, "/request_callback")
    say(servers, "yes", sender)
    say(servers, "jo@example.org", sender)
    _, reply = say(servers, "stop", sender)
    assert "haven't asked an adviser to contact you" in texts(reply)
    assert cases(servers).open_case_for(sender) is None
    _, reply = say(servers, "what is a senco", sender)
    assert slots(servers, sender)["route"] == "answer"


def test_two_questions_in_one_message_each_get_a_short_answer(servers):
    """The NLU's `parts` reach the action server through Rasa's parse data."""
    sender, messages = say(
        servers,
        "My son is 9 and struggling with reading. Who is the SENCO at his school? "
        "And what does an educational psychologist do?",
    )
    found = slots(servers, sender)
    assert found["route"] == "answer"
    assert set(found["kb_articles"]) >= {"senco", "educational-psychologist"}
    text = messages[-1]["text"]
    assert text.startswith(replies.text("answer.several"))
    assert text.count("Source: ") == len(found["kb_articles"])


def test_a_follow_up_is_read_against_the_last_answer(servers):
    sender, _ = say(servers, "what is an educational psychologist")
    assert slots(servers, sender)["kb_article"] == "educational-psychologist"
    say(servers, "how do i get one for my son?", sender)
    assert slots(servers, sender)["kb_article"] == "involving-specialists"


def test_the_childs_stage_is_kept_and_the_guidance_for_16_and_over_comes_first(servers):
    sender, messages = say(servers, "my son is 17, should the school talk to me or to him?")
    found = slots(servers, sender)
    assert found["child_stage"] == "post-16"
    assert found["kb_article"] in ("parent-involvement", "identifying-sen")
    assert messages[-1]["text"].startswith("If your child is 16 or older")
    # Said once, kept: a later question without an age still gets it first.
    _, messages = say(servers, "how should the school involve me in decisions", sender)
    assert slots(servers, sender)["child_stage"] == "post-16"
