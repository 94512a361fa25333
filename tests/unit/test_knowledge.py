"""The knowledge base loads, and its validator rejects bad content naming the file and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.assistant import knowledge

ROOT = Path(__file__).resolve().parents[2]


def problems_after(change, knowledge_copy: Path) -> list[str]:
    change(knowledge_copy)
    with pytest.raises(knowledge.KnowledgeError) as error:
        knowledge.load(knowledge_copy)
    return error.value.problems


def edit_article(directory: Path, article_id: str, **fields) -> Path:
    path = directory / "articles" / f"{article_id}.yml"
    data = yaml.safe_load(path.read_text())
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_every_architecture_id_has_a_valid_article(kb):
    assert set(kb.articles) == knowledge.expected_article_ids()
    assert len(kb.articles) == 29


def test_every_quote_is_verbatim_in_the_guidance(kb):
    for article in kb.articles.values():
        doc = kb.guidance[article.guidance]
        for quote in article.quotes:
            assert doc.supports(quote), (article.id, quote)


def test_answers_are_short_and_name_their_source(kb):
    for article in kb.articles.values():
        assert len(article.answer.split()) <= 120, article.id
        assert article.section in kb.source_line(article)


def test_placeholder_sections_are_found_and_never_content(kb):
    doc = kb.guidance["sen-support-guidance"]
    assert [s.heading for s in doc.placeholder_sections] == [
        "Add Your Heading Text Here",
        "Home/School Communication",
        "This is the heading",
        "??",
    ]
    for section in doc.content_sections:
        assert "lorem ipsum" not in section.text.lower()
    for article in kb.articles.values():
        for text in (article.answer, article.detail, article.title, *article.questions):
            assert not knowledge.contains_placeholder(text), article.id


def test_a_missing_field_is_named(knowledge_copy):
    problems = problems_after(lambda d: edit_article(d, "senco", quote=None), knowledge_copy)
    assert any("senco.yml: quote: missing" in p for p in problems)


def test_a_quote_not_in_the_guidance_is_rejected(knowledge_copy):
    made_up = "Every school must give every child a laptop."
    problems = problems_after(lambda d: edit_article(d, "senco", quote=made_up), knowledge_copy)
    assert any("senco.yml: quote: not found verbatim" in p for p in problems)


def test_a_quote_from_a_placeholder_section_is_rejected(knowledge_copy):
    lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    problems = problems_after(lambda d: edit_article(d, "senco", quote=lorem), knowledge_copy)
    assert any("senco.yml: quote: contains placeholder text" in p for p in problems)


def test_placeholder_text_in_an_answer_is_rejected(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(d, "senco", answer="Add Your Heading Text Here"), knowledge_copy
    )
    assert any("senco.yml: answer: contains placeholder text" in p for p in problems)


def test_a_placeholder_section_cannot_be_a_source(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(d, "senco", section="Home/School Communication"), knowledge_copy
    )
    assert any(
        "senco.yml: section: 'Home/School Communication' is placeholder" in p for p in problems
    )


def test_a_related_id_that_does_not_exist_is_rejected(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(d, "senco", related=["meetings", "no-such-topic"]), knowledge_copy
    )
    assert any("senco.yml: related: 'no-such-topic' is not an article id" in p for p in problems)


def test_a_duplicate_id_is_rejected(knowledge_copy):
    def duplicate(d: Path) -> None:
        text = (d / "articles" / "senco.yml").read_text()
        (d / "articles" / "senco-copy.yml").write_text(text)

    problems = problems_after(duplicate, knowledge_copy)
    assert any("id: duplicate id 'senco'" in p and "senco-copy.yml" in p for p in problems)


def test_an_unknown_id_is_rejected(knowledge_copy):
    def unknown(d: Path) -> None:
        path = edit_article(d, "senco", id="sencos")
        path.rename(path.with_name("sencos.yml"))

    problems = problems_after(unknown, knowledge_copy)
    assert any("sencos.yml: id: unknown id 'sencos'" in p for p in problems)
    assert any("no article for id 'senco'" in p for p in problems)


def test_a_second_guidance_document_is_validated_the_same_way(knowledge_copy):
    guidance = knowledge_copy / "guidance"
    (guidance / "local.txt").write_text(
        "Our local offer\n\nParents can visit the family hub on weekdays.\n\n"
        "Draft\n\nLorem ipsum dolor sit amet.\n"
    )
    (guidance / "local.yml").write_text(
        "id: local\ntitle: Local guidance\nfile: local.txt\nheadings: [Our local offer, Draft]\n"
        "publisher: Anyshire SENDIASS\nurl: https://anyshire-sendiass.example.org/local\n"
    )
    ids = knowledge_copy / "article-ids.yml"
    ids.write_text(ids.read_text() + "  - family-hub\n")
    article = yaml.safe_load((knowledge_copy / "articles" / "local-offer.yml").read_text())
    article.update(
        id="family-hub",
        guidance="local",
        section="Our local offer",
        quote="Parents can visit the family hub on weekdays.",
        related=["local-offer"],
        answer="You can visit the family hub on weekdays.",
        summary="You can visit the family hub on weekdays.",
    )
    article.pop("paraphrases", None)  # the Local Offer's plain wording of its own quotes
    (knowledge_copy / "articles" / "family-hub.yml").write_text(yaml.safe_dump(article))

    kb = knowledge.load(knowledge_copy)
    assert kb.articles["family-hub"].guidance == "local"
    assert [s.heading for s in kb.guidance["local"].placeholder_sections] == ["Draft"]

    article["quote"] = "Parents can visit the family hub at weekends."
    (knowledge_copy / "articles" / "family-hub.yml").write_text(yaml.safe_dump(article))
    with pytest.raises(knowledge.KnowledgeError) as error:
        knowledge.load(knowledge_copy)
    assert any(
        "family-hub.yml: quote: not found verbatim in 'local'" in p for p in error.value.problems
    )


def test_validate_command_names_file_and_field_and_fails(knowledge_copy):
    edit_article(knowledge_copy, "meetings", related=["nowhere"])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate", "--knowledge", str(knowledge_copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "meetings.yml: related: 'nowhere' is not an article id" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_command_passes_on_the_real_knowledge_base():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "29 articles" in result.stdout


def test_every_article_has_a_short_summary_for_messages_asking_several_things(kb):
    for article in kb.articles.values():
        assert article.summary, article.id
        assert len(article.summary.split()) <= knowledge.MAX_SUMMARY_WORDS, article.id


def test_a_missing_or_long_summary_is_named(knowledge_copy):
    problems = problems_after(lambda d: edit_article(d, "senco", summary=None), knowledge_copy)
    assert any("senco.yml: summary: missing" in p for p in problems)
    long = "word " * (knowledge.MAX_SUMMARY_WORDS + 1)
    problems = problems_after(lambda d: edit_article(d, "senco", summary=long), knowledge_copy)
    assert any("senco.yml: summary:" in p and "words" in p for p in problems)


def test_a_follow_up_must_lead_to_an_article_or_a_known_adviser_topic(knowledge_copy):
    def change(d):
        edit_article(d, "senco", follow_ups={"how": "no-such-article", "sometime": "senco"})
        edit_article(d, "ehcp", follow_ups={"refused": "beyond:out_nowhere"})

    problems = problems_after(change, knowledge_copy)
    assert any("senco.yml: follow_ups: how: 'no-such-article'" in p for p in problems)
    assert any("senco.yml: follow_ups: unknown kind 'sometime'" in p for p in problems)
    assert any("ehcp.yml: follow_ups: refused: 'beyond:out_nowhere'" in p for p in problems)


def test_a_stage_note_must_rest_on_a_verbatim_guidance_sentence(knowledge_copy):
    def change(d):
        edit_article(
            d,
            "senco",
            stage_notes={"post-16": "Young people must choose their own college."},
            stage_quotes={"post-16": "Young people must choose their own college."},
        )

    problems = problems_after(change, knowledge_copy)
    assert any("senco.yml: stage_quotes: post-16: not found verbatim" in p for p in problems)


def test_the_stage_notes_say_should_where_the_guidance_does(kb):
    for article in kb.articles.values():
        note = article.stage_notes.get("post-16")
        if note:
            assert "should" in note and "must" not in note, article.id


# Must and should (issue 15): "must" only where the article's own quotes say "must".

SHOULD_ONLY = (
    "The school or setting should always let you know and involve you in decisions before they "
    "start giving the extra or different help to your child."
)


def test_must_where_the_quotes_only_say_should_is_rejected(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(
            d,
            "meetings",
            answer="Schools must meet parents at least three times a year.",
        ),
        knowledge_copy,
    )
    assert any(
        "meetings.yml: answer: 'must' in 'Schools must meet parents" in p
        and "no quote of this article says 'must'" in p
        for p in problems
    )


@pytest.mark.parametrize(
    "field, sentence",
    [
        ("summary", "Schools have to meet parents at least three times a year."),
        ("detail", "Schools are required to meet parents at least three times a year."),
        ("answer", "Schools are legally bound to meet parents three times a year."),
    ],
)
def test_have_to_required_to_and_legally_count_as_must(knowledge_copy, field, sentence):
    problems = problems_after(
        lambda d: edit_article(d, "meetings", **{field: sentence}), knowledge_copy
    )
    assert any(f"meetings.yml: {field}: '" in p and "says 'must'" in p for p in problems)


def test_must_backed_by_a_must_quote_about_the_same_thing_passes(knowledge_copy):
    edit_article(
        knowledge_copy,
        "senco",
        answer="Every school must have a qualified SENCO.",
    )
    assert knowledge.load(knowledge_copy).articles["senco"].answer.startswith("Every school must")


def test_a_must_quote_about_something_else_does_not_back_a_must(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(
            d,
            "senco",
            answer="The school must meet parents three times a year.",
            quote=["Every school must have a qualified SENCO.", "schools should meet parents"],
        ),
        knowledge_copy,
    )
    assert any("senco.yml: answer: 'must' in 'The school must meet" in p for p in problems)


def test_must_involve_is_rejected_where_the_guidance_also_says_should_involve(knowledge_copy):
    """The audit's finding: Identifying SEN says the school "must ... involve you in decisions",
    the opening says it "should always ... involve you". Quoting the "must" is not enough."""
    problems = problems_after(
        lambda d: edit_article(
            d,
            "parent-involvement",
            answer=(
                "The school must talk to you and your child, and involve you in decisions before "
                "it starts, reduces or stops extra or different support for your child."
            ),
        ),
        knowledge_copy,
    )
    assert any(
        "parent-involvement.yml: answer: 'must'" in p and "keep the weaker reading" in p
        for p in problems
    )


def test_the_should_sentence_of_a_contradiction_must_be_in_the_guidance(knowledge_copy):
    meta = knowledge_copy / "guidance" / "sen-support-guidance.yml"
    data = yaml.safe_load(meta.read_text())
    data["should_not_must"] = {"involve": "The school should always involve parents fully."}
    meta.write_text(yaml.safe_dump(data, allow_unicode=True))
    problems = problems_after(lambda d: None, knowledge_copy)
    assert any("should_not_must: involve: not found verbatim" in p for p in problems)


def test_the_real_guidance_names_its_contradiction(kb):
    assert kb.guidance["sen-support-guidance"].should_not_must == {"involve": SHOULD_ONLY}


def test_no_article_tells_parents_the_school_must_involve_them(kb):
    for article in kb.articles.values():
        for text in (article.answer, article.summary, article.detail):
            for sentence in knowledge.sentences(text):
                if knowledge.DUTY_IN_ARTICLE.search(sentence):
                    assert "involv" not in sentence.lower(), (article.id, sentence)


# Each sentence rests on a quote of its article (issue 15): "the quote exists" is not enough.

UNSUPPORTED = "Every SENCO can give your family a free laptop for homework."


def test_a_sentence_no_quote_says_is_rejected(knowledge_copy):
    answer = "Every school must have a qualified SENCO.\n" + UNSUPPORTED
    problems = problems_after(lambda d: edit_article(d, "senco", answer=answer), knowledge_copy)
    assert any(
        f"senco.yml: answer: '{UNSUPPORTED}' rests on no quote of this article" in p
        for p in problems
    )
    assert not any("'Every school must have a qualified SENCO.'" in p for p in problems)


def test_an_unsupported_sentence_in_a_summary_or_detail_is_rejected_too(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(d, "senco", summary=UNSUPPORTED, detail=UNSUPPORTED), knowledge_copy
    )
    assert any("senco.yml: summary: 'Every SENCO can give" in p for p in problems)
    assert any("senco.yml: detail: 'Every SENCO can give" in p for p in problems)


def test_a_plain_paraphrase_passes_when_it_names_the_words_of_a_quote(knowledge_copy):
    plain = "They look after SEN help for each pupil."
    edit_article(knowledge_copy, "senco", detail=plain)
    problems = problems_after(lambda d: None, knowledge_copy)
    assert any(f"senco.yml: detail: '{plain}' rests on no quote" in p for p in problems)
    source = "to co-ordinate the specific provision for individual pupils"
    edit_article(knowledge_copy, "senco", paraphrases={plain: source})
    assert knowledge.load(knowledge_copy).articles["senco"].detail == plain


def test_a_paraphrase_must_point_at_a_quote_of_the_article(knowledge_copy):
    plain = "They look after SEN help for each pupil."
    problems = problems_after(
        lambda d: edit_article(
            d, "senco", detail=plain, paraphrases={plain: "Every SENCO looks after SEN."}
        ),
        knowledge_copy,
    )
    assert any("senco.yml: paraphrases: 'They look after SEN help for each" in p for p in problems)
    assert any("is not part of a quote of this article" in p for p in problems)


def test_a_paraphrase_of_a_sentence_no_longer_written_is_named(knowledge_copy):
    problems = problems_after(
        lambda d: edit_article(
            d, "senco", paraphrases={"A sentence nobody wrote.": "Every school must have a"}
        ),
        knowledge_copy,
    )
    assert any(
        "senco.yml: paraphrases: 'A sentence nobody wrote.' is not a sentence" in p
        for p in problems
    )
