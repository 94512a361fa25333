"""The local service's own details (knowledge/service.yml) as content: shown under the answers
that send a parent to the service, the Local Offer or a factsheet, and checked by the validator
wherever a reply or an article refers to one."""

from __future__ import annotations

import pytest
import yaml

from actions.answer import ActionAnswer
from bot.assistant import knowledge, replies, service
from tests.conftest import make_tracker, run_action

SERVICE = yaml.safe_load(service.PATH.read_text(encoding="utf-8"))


def answer(intent):
    messages, slots = run_action(ActionAnswer(), make_tracker("a question", intent))
    return messages[0]["text"], slots


def edit_service(knowledge_dir, **changes):
    path = knowledge_dir / "service.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_the_sendiass_answer_gives_the_services_phone_email_and_where_to_find_another(data_dir):
    text, slots = answer("kb_sendiass")
    assert slots["route"] == "answer" and slots["kb_article"] == "sendiass"
    assert f"Call {SERVICE['name']} on {SERVICE['phone']} (Monday to Friday" in text
    assert SERVICE["email"] in text
    assert SERVICE["find_another"] in text


def test_answers_about_the_local_offer_give_its_link(data_dir):
    for intent in ("kb_local_offer", "kb_sen_information_report"):
        text, _ = answer(intent)
        assert SERVICE["local_offer"] in text, intent


def test_answers_about_meetings_give_the_phone_and_the_meetings_factsheet(data_dir):
    tips = SERVICE["factsheets"]["meeting_tips"]
    for intent in ("kb_meetings", "kb_meeting_tips"):
        text, _ = answer(intent)
        assert SERVICE["phone"] in text, intent
        assert f"{tips['title']}: {tips['url']}" in text, intent


def test_an_answer_without_the_service_shows_none_of_its_details(data_dir):
    text, _ = answer("kb_senco")
    assert SERVICE["phone"] not in text and SERVICE["email"] not in text


def test_the_source_line_names_the_publisher_and_links_the_guidance_page(kb):
    doc = kb.guidance["sen-support-guidance"]
    assert doc.publisher and doc.url.startswith("https://")
    line = kb.source_line(kb.articles["senco"])
    assert line.startswith("Source: SEN Support guidance, section")
    assert doc.publisher in line and line.endswith(doc.url)


def test_the_validator_fails_when_a_reply_refers_to_a_missing_service_field(knowledge_copy):
    edit_service(knowledge_copy, phone=None)
    data = yaml.safe_load((knowledge_copy / "replies.yml").read_text(encoding="utf-8"))
    problems = replies.check(data, knowledge_copy / "replies.yml")
    named = [p for p in problems if "{service.phone}" in p]
    assert named and all("knowledge/service.yml's phone is missing" in p for p in named)
    assert any("escalate.time_critical" in p for p in named)


def test_the_validator_fails_when_a_reply_refers_to_an_empty_service_field(knowledge_copy):
    edit_service(knowledge_copy, email="  ")
    data = yaml.safe_load((knowledge_copy / "replies.yml").read_text(encoding="utf-8"))
    problems = replies.check(data, knowledge_copy / "replies.yml")
    assert any("callback.declined" in p and "email is empty" in p for p in problems)


def test_the_validator_fails_when_an_article_shows_a_missing_service_field(knowledge_copy):
    edit_service(knowledge_copy, local_offer=None)
    with pytest.raises(knowledge.KnowledgeError) as error:
        knowledge.load(knowledge_copy)
    problems = error.value.problems
    assert any(
        p.endswith(
            "local-offer.yml: service: 'local_offer' is missing in knowledge/service.yml: "
            "fill it in there, or take it out of this article"
        )
        for p in problems
    ), problems
    assert any("service.yml: local_offer is missing or empty" in p for p in problems)


def test_the_validator_fails_on_a_factsheet_an_article_names_that_the_service_lacks(
    knowledge_copy,
):
    sheets = dict(SERVICE["factsheets"])
    sheets.pop("meeting_tips")
    edit_service(knowledge_copy, factsheets=sheets)
    with pytest.raises(knowledge.KnowledgeError) as error:
        knowledge.load(knowledge_copy)
    assert any(
        "meeting-tips.yml: service: 'factsheets.meeting_tips' is missing" in p
        for p in error.value.problems
    )


def test_the_validator_fails_on_a_time_critical_topic_that_is_not_a_topic(knowledge_copy):
    edit_service(knowledge_copy, time_critical_topics=["out_exclusion", "out_parking"])
    with pytest.raises(knowledge.KnowledgeError) as error:
        knowledge.load(knowledge_copy)
    assert any("'out_parking' is not a beyond-guidance intent" in p for p in error.value.problems)


def test_the_demo_service_is_clearly_fictional():
    assert SERVICE["phone"].replace(" ", "").startswith("01632960")  # Ofcom's drama numbers
    for link in (SERVICE["website"], SERVICE["local_offer"], SERVICE["email"]):
        assert "example.org" in link
