"""bot.assistant.retrieval: the article that fits a question when the classifier is unsure, with
a stand-in encoder (bag of words) so the ranking rules are tested on their own."""

from __future__ import annotations

import re

import numpy as np

from bot.assistant.retrieval import TEXT_WEIGHT, KnowledgeRetriever


class WordEncoder:
    """A stand-in for the sentence encoder: normalised word counts over a fixed vocabulary."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            row = np.array([words.count(w) for w in self.vocabulary], dtype=np.float32)
            norm = np.linalg.norm(row)
            rows.append(row / norm if norm else row)
        return np.array(rows, dtype=np.float32)


def retriever(kb) -> KnowledgeRetriever:
    words = sorted(
        {
            w
            for a in kb.articles.values()
            for text in (a.title, a.answer, *a.questions)
            for w in re.findall(r"[a-z]+", text.lower())
        }
    )
    return KnowledgeRetriever(kb, WordEncoder(words))


def test_an_articles_own_example_question_finds_it_first(kb):
    found = retriever(kb)
    for article in list(kb.articles.values())[:10]:
        best = found.find(article.questions[0])[0]
        assert best.article.id == article.id, article.questions[0]
        assert best.score > 0.99


def test_results_are_best_first_one_per_article_and_limited(kb):
    matches = retriever(kb).find("what does the senco do about support", limit=5)
    assert len(matches) == 5
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert len({m.article.id for m in matches}) == 5


def test_title_and_answer_entries_count_a_little_less_than_example_questions(kb):
    article = next(iter(kb.articles.values()))
    best = retriever(kb).find(article.title)[0]
    # The title matched exactly, but titles are weighted below questions.
    assert best.score <= 1.0
    if best.article.id == article.id and article.title not in article.questions:
        assert abs(best.score - TEXT_WEIGHT) < 1e-4 or best.score > TEXT_WEIGHT
