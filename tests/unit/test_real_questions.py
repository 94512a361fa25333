"""The real parents' questions and the conversation sets the benchmark scores on
(tests/real_questions, tests/conversations; bench/real_questions.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench import real_questions as real
from bot.assistant import replies

BEYOND_TOPICS = set(replies.topics()) | {"other", "any"}


@pytest.fixture(scope="module")
def questions():
    return real.load_questions()


def test_there_are_at_least_400_real_questions_each_with_its_source_page(questions):
    assert len(questions) >= 400
    assert all(q.source.startswith(("http://", "https://")) for q in questions)
    assert len({q.source for q in questions}) >= 200


def test_every_label_is_an_article_or_an_adviser_topic(questions, kb):
    for q in questions:
        assert q.acceptable or q.beyond, q.text
        assert all(a in kb.articles for a in q.acceptable), (q.text, q.acceptable)
        if q.beyond:
            assert q.beyond in BEYOND_TOPICS, (q.text, q.beyond)


def test_every_page_is_in_exactly_one_split_and_no_page_is_split(questions):
    splits = real.load_splits()
    assert {q.source for q in questions} <= set(splits), "run python -m bench.real_questions split"
    data = yaml.safe_load(real.SPLITS.read_text())
    every = [url for urls in data.values() for url in urls]
    assert len(every) == len(set(every))
    counts = Counter(splits[q.source] for q in questions)
    assert counts["test"] >= 100 and counts["dev"] >= 50 and counts["train"] >= 100


def test_only_train_questions_are_in_the_training_data_and_it_is_up_to_date(
    questions, tmp_path: Path
):
    splits = real.load_splits()
    text = real.TRAIN_DATA.read_text(encoding="utf-8")
    urls = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("# http")]
    assert urls and all(splits[url] == "train" for url in urls)
    fresh = tmp_path / "fresh.yml"
    real.write_training_data(questions, fresh)
    assert fresh.read_text(encoding="utf-8") == text, (
        "data/nlu/real_questions_train.yml is stale: run python -m bench.real_questions train-data"
    )


def test_a_new_page_gets_a_split_and_no_page_ever_moves(tmp_path: Path):
    path = tmp_path / "splits.yml"
    path.write_text(yaml.safe_dump({"train": ["https://a.example/1"], "dev": [], "test": []}))
    first = real.RealQuestion("q", ("senco",), None, "https://a.example/1", "x.tsv")
    second = real.RealQuestion("q2", ("senco",), None, "https://b.example/2", "x.tsv")
    splits = real.assign_splits([first, second], path)
    assert splits["https://a.example/1"] == "train"
    assert splits["https://b.example/2"] in ("train", "dev", "test")
    again = real.assign_splits([first, second], path)
    assert again == splits


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_conversation_sets_are_labelled_with_known_outcomes(split, kb):
    multi = real.load_multi(split)
    talks = real.load_conversations(split)
    assert len(multi) >= (40 if split == "test" else 20)
    assert len(talks) >= (40 if split == "test" else 20)

    def known(option: str) -> bool:
        if option.startswith("beyond:"):
            return option[7:] in BEYOND_TOPICS
        if option.startswith("more:"):
            return option[5:] in kb.articles
        return option == "clarify" or option in kb.articles

    for message in multi:
        assert len(message.parts) >= 2
        assert all(known(o) for part in message.parts for o in part), message.text
    for talk in talks:
        assert 2 <= len(talk.turns) <= 4
        assert all(known(o) for turn in talk.turns for o in turn.expect), talk.name


def test_scoring_a_turn():
    answered = {"route": "answer", "kb_article": "senco", "kb_articles": ["senco", "meetings"]}
    escalated = {"route": "escalate", "kb_article": None, "escalated_topics": ["out_transport"]}
    assert real.outcome_matches(("senco",), answered)
    assert not real.outcome_matches(("meetings",), answered)  # only the main answer counts
    assert real.outcome_matches(("beyond:out_transport",), escalated)
    assert real.outcome_matches(("beyond:any",), escalated)
    assert not real.outcome_matches(("beyond:out_exclusion",), escalated)
    assert real.outcome_matches(("more:senco",), answered)
    assert real.outcome_matches(("clarify",), {"route": "clarify"})


def test_scoring_parts_of_a_message():
    slots = {
        "route": "answer",
        "kb_article": "senco",
        "kb_articles": ["senco", "meetings"],
        "escalated_topics": ["out_exclusion"],
    }
    assert real.part_addressed(("meetings",), slots)
    assert real.part_addressed(("beyond:out_exclusion",), slots)
    assert not real.part_addressed(("beyond:out_transport",), slots)
    assert not real.part_addressed(("ehcp",), slots)


def test_no_dev_or_test_question_is_in_the_training_data(questions):
    from bench.accuracy import nlu_examples

    trained = {
        " ".join(t.lower().split())
        for path in (real.ROOT / "data" / "nlu").glob("*.yml")
        for texts in nlu_examples(path).values()
        for t in texts
    }
    held = [q for q in questions if real.load_splits()[q.source] != "train"]
    leaked = [q.text for q in held if " ".join(q.text.lower().split()) in trained]
    assert not leaked


def test_pages_collected_only_for_training_go_to_train(tmp_path: Path):
    path = tmp_path / "splits.yml"
    path.write_text(yaml.safe_dump({"train": [], "dev": [], "test": []}))
    later = [
        real.RealQuestion("q", ("senco",), None, f"https://later.example/{i}", "train_more.tsv")
        for i in range(20)
    ]
    splits = real.assign_splits(later, path)
    assert set(splits.values()) == {"train"}


def test_no_page_of_a_train_only_file_is_in_dev_or_test(questions):
    splits = real.load_splits()
    for q in questions:
        if q.file.startswith(real.TRAIN_ONLY_PREFIX):
            assert splits[q.source] == "train", q.source
