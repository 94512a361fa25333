"""A plain BM25 search over the guidance, to compare the assistant against.

The baseline indexes every paragraph of the guidance's real sections (never the placeholder
ones) and returns the best-scoring paragraph for a question. It has no intent model, no
escalation and no safeguarding check: it always returns its best paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rank_bm25 import BM25Okapi

from bot.assistant.knowledge import Article, KnowledgeBase, normalise_for_quotes


@dataclass(frozen=True)
class Passage:
    """One paragraph of a guidance document, with where it came from."""

    guidance: str
    section: str
    text: str


def tokenise(text: str) -> list[str]:
    """Lower-case words and numbers; nothing else (no stemming, no stop words)."""
    return re.findall(r"[a-z0-9]+", text.lower())


def guidance_passages(kb: KnowledgeBase) -> list[Passage]:
    """Every paragraph of every real (non-placeholder) section of the guidance."""
    return [
        Passage(doc.id, section.heading, paragraph)
        for doc in kb.guidance.values()
        for section in doc.content_sections
        for paragraph in section.paragraphs
    ]


class Bm25Baseline:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.passages = guidance_passages(kb)
        self.index = BM25Okapi([tokenise(p.text) for p in self.passages])

    def top(self, question: str) -> Passage | None:
        """The best paragraph for a question, or None when no word of it is in the guidance."""
        words = tokenise(question)
        if not words:
            return None
        scores = self.index.get_scores(words)
        best = max(range(len(scores)), key=lambda i: scores[i])
        return self.passages[best] if scores[best] > 0 else None


def answers_from(article: Article, passage: Passage | None) -> bool:
    """The paragraph is from the section the article is built on, or holds one of its quotes."""
    if passage is None:
        return False
    if passage.guidance == article.guidance and passage.section == article.section:
        return True
    return any(normalise_for_quotes(quote) in passage.text for quote in article.quotes)
