"""The intent model: logistic regression over sentence embeddings and TF-IDF features.

Kept apart from Rasa so the benchmark and tests can train and probe it directly. Saved as
JSON and NumPy arrays (``allow_pickle=False``): loading a model file cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.assistant.embeddings import shared_encoder


def training_fingerprint() -> str:
    """What a trained model depends on besides its data and config: this module's code."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


_VECTORIZERS = {
    "chars": {"analyzer": "char_wb", "ngram_range": (2, 4), "sublinear_tf": True, "min_df": 2},
    "words": {"analyzer": "word", "ngram_range": (1, 1), "sublinear_tf": True},
}


# The "beyond the guidance?" model: one yes/no logistic regression over the same features,
# trained on the article intents (no) and the beyond-guidance topics (yes), each side weighted
# equally. On real parents' questions (dev split) it told the two apart better than the topics'
# share of the intent model's belief: 39 of 44 beyond-guidance questions at 4 of 39 in-guidance
# ones wrongly, against 34 of 44 at the same cost (docs/decisions.md).
BEYOND_C = 5.0


class IntentModel:
    def __init__(
        self,
        vectorizers: dict[str, TfidfVectorizer],
        classes: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        beyond_coef: np.ndarray | None = None,
        beyond_intercept: np.ndarray | None = None,
    ) -> None:
        self.vectorizers = vectorizers
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.beyond_coef = beyond_coef
        self.beyond_intercept = beyond_intercept

    @staticmethod
    def _features(texts: list[str], vectorizers: dict[str, TfidfVectorizer]) -> csr_matrix:
        embeddings = csr_matrix(shared_encoder().encode(texts))
        sparse = [vectorizers[name].transform(texts) for name in _VECTORIZERS]
        return hstack([embeddings, *sparse]).tocsr()

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: list[str],
        C: float = 20.0,
        max_iter: int = 3000,
        answered: set[str] | None = None,
        beyond: set[str] | None = None,
    ) -> IntentModel:
        """The intent model; with ``answered`` (the article intents) and ``beyond`` (the
        beyond-guidance topics) given, also the yes/no beyond-the-guidance model."""
        vectorizers = {
            name: TfidfVectorizer(**opts).fit(texts) for name, opts in _VECTORIZERS.items()
        }
        features = cls._features(texts, vectorizers)
        classifier = LogisticRegression(C=C, max_iter=max_iter)
        classifier.fit(features, labels)
        model = cls(vectorizers, classifier.classes_, classifier.coef_, classifier.intercept_)
        rows = [
            i for i, label in enumerate(labels) if label in (answered or set()) | (beyond or set())
        ]
        sides = {labels[i] in (beyond or set()) for i in rows}
        if len(sides) == 2:
            yes_no = LogisticRegression(C=BEYOND_C, max_iter=max_iter, class_weight="balanced")
            yes_no.fit(features[rows], [labels[i] in (beyond or set()) for i in rows])
            model.beyond_coef, model.beyond_intercept = yes_no.coef_, yes_no.intercept_
        return model

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.read(texts)[0]

    def read(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Each text's intent probabilities, and how likely it is beyond the guidance (None for a
        model trained without the yes/no model)."""
        features = self._features(texts, self.vectorizers)
        scores = np.asarray(features @ self.coef.T + self.intercept)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = scores / scores.sum(axis=1, keepdims=True)
        if self.beyond_coef is None or self.beyond_intercept is None:
            return probabilities, None
        logits = np.asarray(features @ self.beyond_coef.T + self.beyond_intercept).ravel()
        return probabilities, 1.0 / (1.0 + np.exp(-logits))

    def ranked(self, row: np.ndarray, length: int | None = None) -> list[dict]:
        """One row of probabilities as intents with their confidence, best first."""
        order = np.argsort(-row)[:length]
        return [{"name": str(self.classes[i]), "confidence": float(row[i])} for i in order]

    def rank(self, texts: list[str]) -> list[list[dict]]:
        """For each text, every intent with its confidence, best first."""
        return [self.ranked(row) for row in self.probabilities(texts)]

    def save(self, directory: Path) -> None:
        meta = {"classes": [str(c) for c in self.classes], "vectorizers": {}}
        for name, vectorizer in self.vectorizers.items():
            meta["vectorizers"][name] = {
                "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
            }
            np.save(directory / f"idf_{name}.npy", vectorizer.idf_, allow_pickle=False)
        (directory / "intent_model.json").write_text(json.dumps(meta), encoding="utf-8")
        np.save(directory / "coef.npy", self.coef, allow_pickle=False)
        np.save(directory / "intercept.npy", self.intercept, allow_pickle=False)
        if self.beyond_coef is not None and self.beyond_intercept is not None:
            np.save(directory / "beyond_coef.npy", self.beyond_coef, allow_pickle=False)
            np.save(directory / "beyond_intercept.npy", self.beyond_intercept, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        meta = json.loads((directory / "intent_model.json").read_text(encoding="utf-8"))
        vectorizers = {}
        for name, opts in _VECTORIZERS.items():
            vectorizer = TfidfVectorizer(vocabulary=meta["vectorizers"][name]["vocabulary"], **opts)
            vectorizer.idf_ = np.load(directory / f"idf_{name}.npy", allow_pickle=False)
            vectorizers[name] = vectorizer
        beyond = [directory / "beyond_coef.npy", directory / "beyond_intercept.npy"]
        return cls(
            vectorizers,
            np.array(meta["classes"]),
            np.load(directory / "coef.npy", allow_pickle=False),
            np.load(directory / "intercept.npy", allow_pickle=False),
            *(np.load(path, allow_pickle=False) if path.exists() else None for path in beyond),
        )
