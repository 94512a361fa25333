"""Finding the article that fits a question when the NLU model is unsure.

Each article is indexed by its title, its example questions and its short answer. A question is
embedded with the same sentence encoder the NLU uses, and an article scores the best cosine
similarity among its entries (example questions count fully; title and answer text slightly less,
as they are worded unlike a question).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.assistant.embeddings import SentenceEncoder, shared_encoder
from bot.assistant.knowledge import Article, KnowledgeBase

TEXT_WEIGHT = 0.9  # title and answer entries score a little below example questions


@dataclass(frozen=True)
class Match:
    article: Article
    score: float


class KnowledgeRetriever:
    def __init__(self, kb: KnowledgeBase, encoder: SentenceEncoder | None = None) -> None:
        self.kb = kb
        self.encoder = encoder or shared_encoder()
        owners: list[str] = []
        texts: list[str] = []
        weights: list[float] = []
        for article in kb.articles.values():
            for question in article.questions:
                owners.append(article.id)
                texts.append(question)
                weights.append(1.0)
            for text in (article.title, article.answer):
                owners.append(article.id)
                texts.append(text)
                weights.append(TEXT_WEIGHT)
        self._owners = np.array(owners)
        self._weights = np.array(weights, dtype=np.float32)
        self._vectors = self.encoder.encode(texts)
        self._ids = list(kb.articles)

    def scores(self, question: str) -> dict[str, float]:
        """Every article's score for a question."""
        vector = self.encoder.encode([question])[0]
        scores = (self._vectors @ vector) * self._weights
        best: dict[str, float] = {}
        for owner, score in zip(self._owners, scores, strict=True):
            if score > best.get(owner, -1.0):
                best[owner] = float(score)
        return best

    def find(self, question: str, limit: int = 3) -> list[Match]:
        """The best ``limit`` articles for a question, best first."""
        best = self.scores(question)
        ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [Match(self.kb.articles[article_id], score) for article_id, score in ranked]

    def find_among(self, question: str, article_ids: list[str]) -> Match | None:
        """The best of the given articles for a question (a short reply to a clarify)."""
        best = self.scores(question)
        ranked = sorted(((best[a], a) for a in article_ids if a in best), key=lambda item: -item[0])
        return Match(self.kb.articles[ranked[0][1]], ranked[0][0]) if ranked else None
