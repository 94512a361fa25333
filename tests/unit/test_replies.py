"""knowledge/replies.yml holds the assistant's words; its check names the file, key and fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.assistant import replies
from bot.assistant.responder import ADVISER_BUTTON, INTRODUCTION, SMALLTALK_REPLIES
from bot.assistant.safeguarding import SAFEGUARDING_REPLY
from bot.channels.limits import RATE_LIMITED_REPLY
from bot.channels.trouble import TROUBLE_BUTTONS
from bot.settings import ROOT


def real() -> dict:
    return yaml.safe_load(replies.PATH.read_text(encoding="utf-8"))


def test_the_real_file_passes():
    assert replies.check(real()) == []
    found = replies.read()
    assert set(found) == set(replies.EXPECTED) | {replies.TOPICS_KEY}


def test_a_missing_key_is_named_with_what_to_do():
    data = real()
    del data["smalltalk"]["goodbye"]
    assert replies.check(data) == [
        "knowledge/replies.yml: smalltalk.goodbye is missing: add it (the code uses it)."
    ]


def test_an_unknown_key_is_named():
    data = real()
    data["smalltalk"]["hello_there"] = "Hi."
    [problem] = replies.check(data)
    assert "knowledge/replies.yml: smalltalk.hello_there is not a reply the code uses" in problem


def test_an_empty_reply_fails():
    data = real()
    data["clarify"]["unsure"] = "  "
    [problem] = replies.check(data)
    assert problem.startswith("knowledge/replies.yml: clarify.unsure must be a non-empty text")


@pytest.mark.parametrize(
    "template, said",
    [
        ("{why} Queue: {queue}.", "missing {reference}"),
        ("{why} {queue} {reference} {ref}", "unknown {ref}"),
        ("{why} {queue} {Reference}", "unknown {Reference}; missing {reference}"),
    ],
)
def test_wrong_placeholders_are_named(template, said):
    data = real()
    data["escalate"]["on_duty"] = template
    [problem] = replies.check(data)
    assert problem == (
        f"knowledge/replies.yml: escalate.on_duty has the wrong placeholders ({said}): "
        "use exactly {queue}, {reference}, {why}."
    )


def test_a_broken_brace_is_named():
    data = real()
    data["limits"]["rate_limited"] = "Please wait {a moment."
    [problem] = replies.check(data)
    assert "limits.rate_limited has a broken placeholder" in problem


def test_a_placeholder_in_a_reply_that_takes_none_fails():
    data = real()
    data["channels"]["failed"] = "Sorry {name}, something went wrong."
    [problem] = replies.check(data)
    assert (
        "channels.failed has the wrong placeholders (unknown {name}): use exactly none." in problem
    )


@pytest.mark.parametrize(
    "number, name",
    [
        ("999", "emergency services"),
        ("0808 800 5000", "NSPCC helpline"),
        ("0800 1111", "Childline"),
        ("116 123", "Samaritans"),
        ("NHS 111", "NHS 111 (urgent health advice)"),
    ],
)
def test_the_safeguarding_reply_must_keep_each_emergency_number(number, name):
    data = real()
    data["safeguarding"]["reply"] = data["safeguarding"]["reply"].replace(number, "[removed]")
    problems = replies.check(data)
    assert (
        f"knowledge/replies.yml: safeguarding.reply must give the {name} number {number}: "
        "put it back."
    ) in problems


def test_the_safeguarding_reply_without_999_fails():
    data = real()
    data["safeguarding"]["reply"] = data["safeguarding"]["reply"].replace(
        "call 999 now", "call the police now"
    )
    assert replies.check(data) == [
        "knowledge/replies.yml: safeguarding.reply must give the emergency services number 999: "
        "put it back."
    ]


def test_the_trouble_reply_must_say_999():
    data = real()
    data["trouble"]["reply"] = "Sorry, something went wrong."
    assert replies.check(data) == [
        "knowledge/replies.yml: trouble.reply must say to call 999 if a child is in danger."
    ]


def test_beyond_guidance_topics_must_match_the_intents():
    data = real()
    del data["escalate"]["topics"]["out_transport"]
    data["escalate"]["topics"]["out_weather"] = "the weather"
    problems = replies.check(data)
    assert "knowledge/replies.yml: escalate.topics.out_transport is missing: add its phrase." in (
        problems
    )
    assert any("escalate.topics.out_weather is not a beyond-guidance intent" in p for p in problems)


def test_not_a_mapping_fails():
    assert replies.check(["hello"])[0].startswith("knowledge/replies.yml: expected groups")


def test_read_raises_with_every_problem(tmp_path: Path):
    data = real()
    del data["buttons"]["adviser"]
    data["callback"]["requested"] = "Thank you."
    path = tmp_path / "replies.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(replies.RepliesError) as error:
        replies.read(path)
    assert len(error.value.problems) == 2
    assert all(p.startswith(f"{path}: ") for p in error.value.problems)


def test_validate_command_fails_naming_the_key(tmp_path: Path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    text = (knowledge / "replies.yml").read_text(encoding="utf-8")
    (knowledge / "replies.yml").write_text(text.replace("call 999 now", "call now"), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate", "--knowledge", str(knowledge)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "safeguarding.reply must give the emergency services number 999" in result.stderr
    assert "Traceback" not in result.stderr


def test_text_fills_placeholders_and_refuses_unknown_keys():
    assert replies.text("escalate.queue_many", ahead=3) == "There are 3 people waiting before you."
    with pytest.raises(KeyError):
        replies.text("escalate.nowhere")
    with pytest.raises(KeyError):
        replies.text("escalate.queue_many")  # {ahead} not given


def test_the_constants_come_from_the_file():
    found = replies.read()
    assert INTRODUCTION == found["introduction.welcome"].format(
        hours="Monday to Friday, 09:00 to 17:00"
    )
    assert SAFEGUARDING_REPLY == found["safeguarding.reply"]
    assert RATE_LIMITED_REPLY == found["limits.rate_limited"]
    assert SMALLTALK_REPLIES["greet"] == found["smalltalk.greet"]
    # "Talk to an adviser" is written once, and every "talk to an adviser" button uses it.
    assert ADVISER_BUTTON == {"title": found["buttons.adviser"], "payload": "/request_human"}
    assert TROUBLE_BUTTONS == [ADVISER_BUTTON]


def test_the_words_parents_see_are_unchanged():
    """A few exact texts, as they were written in the code before they moved."""
    assert SAFEGUARDING_REPLY.startswith(
        "I'm concerned by what you've said, and I want to make sure you and your child are "
        "safe.\n\u2022 If someone is in immediate danger, call 999 now.\n"
    )
    # Since issue 14 it no longer promises "an adviser will contact you as a priority": what
    # happens next is said truthfully in the message after it (safeguarding.adviser_*).
    assert SAFEGUARDING_REPLY.endswith(
        "I'm an automated assistant, so please use the numbers above rather than waiting for me."
    )
    assert "0808 2000 247" in SAFEGUARDING_REPLY
    assert "contact you as a priority" not in SAFEGUARDING_REPLY
    assert INTRODUCTION.count("\n") == 2
    assert (
        replies.text("answer.source", title="T", section="S", publisher="P", url="https://u")
        == "Source: T, section \u201cS\u201d, by P: https://u"
    )
    assert replies.text("handoff.adviser_prefix", first_name="Sam") == "Sam (adviser): "
    assert (
        replies.text("escalate.on_duty", why="Of course.", reference="AB12", queue="You're next.")
        == "Of course. An adviser will join this chat shortly (reference AB12). You're next. "
        'I\'ll stay quiet until then. Type "cancel" to leave the queue.'
    )


def test_the_validator_fails_if_a_helpline_goes_missing(tmp_path):
    import yaml

    data = yaml.safe_load(replies.PATH.read_text(encoding="utf-8"))
    data["safeguarding"]["reply"] = data["safeguarding"]["reply"].replace("0808 2000 247", "")
    data["safeguarding"]["possible_line"] = "Call someone."
    broken = tmp_path / "replies.yml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(replies.RepliesError) as error:
        replies.read(broken)
    problems = "\n".join(error.value.problems)
    assert "National Domestic Abuse Helpline number 0808 2000 247" in problems
    assert "safeguarding.possible_line must give 999" in problems
