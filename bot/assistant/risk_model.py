"""The trained check of risk by meaning (issue 14): a clause-level classifier.

A parent may tell a risk in one clause of a long, ordinary message, and without any word of risk
("she has made a plan and picked a date"). A logistic regression over the sentence embedding and
the word and word-pair TF-IDF of each clause (sentences, long ones as overlapping word windows)
scores each clause; the message's score is the highest. It is trained on both sides: risk
statements and risk messages as positives; every clause of the ordinary training questions, of
real parents' questions (train split only) and of written look-alikes as negatives. For a long
risk message only its riskiest clause is a positive (multiple-instance labelling: the clause the
phrase check matched, else the one a first model scores highest), so the ordinary background
around a risk is not learned as risk.

The weights are plain NumPy arrays (no pickle). The training examples that are not Rasa NLU data
live in knowledge/safeguarding/ (risk-statements.yml, extra-statements.yml and the generated
tuning-examples.yml).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.settings import ROOT

SAFEGUARDING_DIR = ROOT / "knowledge" / "safeguarding"
RISK_STATEMENTS = SAFEGUARDING_DIR / "risk-statements.yml"
EXTRA_STATEMENTS = SAFEGUARDING_DIR / "extra-statements.yml"
TUNING_EXAMPLES = SAFEGUARDING_DIR / "tuning-examples.yml"

WINDOW_WORDS = 14  # long sentences are read in overlapping windows of this many words
MAX_WINDOWS = 40  # per message; a longer message is read in wider windows, never truncated

Encode = Callable[[Sequence[str]], np.ndarray]


def risk_fingerprint() -> str:
    """What a trained risk classifier depends on besides the NLU data: this code and the
    examples in knowledge/safeguarding/."""
    import hashlib

    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(SAFEGUARDING_DIR.glob("*.yml")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def clauses(text: str) -> list[str]:
    """Sentences of a message, long ones as overlapping word windows, so one risky clause in a
    long ordinary question is read on its own. At most ``MAX_WINDOWS``: a very long message is
    read in wider, then non-overlapping, windows, so its end is read as well as its start."""
    sentences = [s.split() for s in re.split(r"[.!?;\n]+", text)]
    sentences = [words for words in sentences if words]
    size = WINDOW_WORDS
    while size <= WINDOW_WORDS * 8:
        for step in (size // 2, size):
            chunks = _windows(sentences, size, step)
            if len(chunks) <= MAX_WINDOWS:
                return chunks
        size *= 2
    # More short sentences than windows (wider windows cannot help a sentence shorter than
    # them): the whole message as one stream of words, in at most MAX_WINDOWS windows.
    words = [word for sentence in sentences for word in sentence]
    size = -(-len(words) // MAX_WINDOWS)
    return [" ".join(words[start : start + size]) for start in range(0, len(words), size)]


def _windows(sentences: list[list[str]], size: int, step: int) -> list[str]:
    chunks: list[str] = []
    for words in sentences:
        if len(words) <= size + size // 2:
            chunks.append(" ".join(words))
            continue
        for start in range(0, max(len(words) - size + step, 1), step):
            chunks.append(" ".join(words[start : start + size]))
    return chunks


def pieces(text: str) -> list[str]:
    """What is scored: each clause. (Scoring the whole message as well was measured and dropped:
    a long message's vector is mostly its ordinary background, and it added false alarms.)"""
    return clauses(text)


WORDS = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 2}
WORD_SCALE = 2.0  # the TF-IDF part's weight beside the sentence vector (measured: 1.0 and 0.5)


def _vectorizer(vocabulary: Sequence[str], idf: np.ndarray) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(vocabulary)}, **WORDS)
    vectorizer.idf_ = idf
    return vectorizer


@dataclass
class RiskModel:
    """Logistic regression weights over a clause's 384-d sentence vector and its word and
    word-pair TF-IDF (the words a mean-pooled vector blurs: "found him", "lol", "he's fine"), and
    the statements that name a category for a flagged clause (the nearest risk statement's)."""

    weights: np.ndarray  # (384,), over the sentence vector
    bias: float
    vocabulary: np.ndarray  # (v,) unicode, the TF-IDF terms in column order
    idf: np.ndarray  # (v,)
    word_weights: np.ndarray  # (v,)
    statement_vectors: np.ndarray  # (n, 384)
    statement_categories: np.ndarray  # (n,) unicode

    FILES = (
        "risk_weights.npy",
        "risk_vocabulary.npy",
        "risk_idf.npy",
        "risk_word_weights.npy",
        "risk_statement_vectors.npy",
        "risk_statement_categories.npy",
    )

    def __post_init__(self) -> None:
        self._words = _vectorizer(list(self.vocabulary), self.idf)

    def scores(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        words = self._words.transform(list(texts))
        z = vectors @ self.weights + WORD_SCALE * (words @ self.word_weights) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def category(self, vector: np.ndarray) -> str:
        if not len(self.statement_vectors):
            return "risk"
        return str(self.statement_categories[int(np.argmax(self.statement_vectors @ vector))])

    def save(self, directory: Path) -> None:
        arrays = (
            np.append(self.weights, self.bias).astype(np.float32),
            self.vocabulary.astype(str),
            self.idf.astype(np.float64),
            self.word_weights.astype(np.float32),
            self.statement_vectors.astype(np.float32),
            self.statement_categories.astype(str),
        )
        for name, array in zip(self.FILES, arrays, strict=True):
            np.save(directory / name, array, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> RiskModel:
        weights, vocabulary, idf, word_weights, vectors, categories = (
            np.load(directory / name, allow_pickle=False) for name in cls.FILES
        )
        return cls(
            weights[:-1], float(weights[-1]), vocabulary, idf, word_weights, vectors, categories
        )


@dataclass
class RiskExamples:
    """What the classifier learns from. ``risks`` are messages (a long one is a bag of clauses of
    which at least one is risk); ``ordinary`` are messages none of whose clauses is risk."""

    risks: list[str]
    ordinary: list[str]
    statements: list[tuple[str, str]]  # (category, statement), for naming a category


def _yaml(path: Path) -> dict:
    import yaml

    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_examples(nlu_risks: Sequence[str] = (), nlu_ordinary: Sequence[str] = ()) -> RiskExamples:
    """The NLU training examples (safeguarding and the rest) with the knowledge files."""
    statements: list[tuple[str, str]] = []
    risks = list(nlu_risks)
    ordinary = list(nlu_ordinary)
    for path in (RISK_STATEMENTS, EXTRA_STATEMENTS):
        data = _yaml(path)
        for category, texts in (data.get("statements") or {}).items():
            statements += [(category, str(t)) for t in texts or []]
        ordinary += [str(t) for t in data.get("ordinary") or []]
    risks += [text for _, text in statements]
    tuning = _yaml(TUNING_EXAMPLES)
    risks += [str(t) for t in tuning.get("risks") or []]
    ordinary += [str(t) for t in tuning.get("look_alikes") or []]
    ordinary += [str(t) for t in tuning.get("ordinary") or []]
    return RiskExamples(_dedupe(risks), _dedupe(ordinary), statements)


def _dedupe(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(" ".join(t.split()) for t in texts if t and t.strip()))


def fit(
    examples: RiskExamples,
    encode: Encode,
    C: float = 10.0,
    positive_weight: float = 1.0,
    locate: Callable[[str], str | None] | None = None,
) -> RiskModel:
    """Two rounds: a first model from the single-clause risks; then each longer risk message
    contributes the clause ``locate`` (the phrase check's matched words) or the first model
    points to. Positives and negatives weigh the same in all (times ``positive_weight``)."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    risk_pieces = [pieces(t) for t in examples.risks]
    ordinary_pieces = sorted({p for t in examples.ordinary for p in pieces(t)})
    statements = [text for _, text in examples.statements]
    everything = sorted(
        {p for ps in risk_pieces for p in ps} | set(ordinary_pieces) | set(statements)
    )
    index = {text: i for i, text in enumerate(everything)}
    vectors = encode(everything)
    words = TfidfVectorizer(**WORDS).fit(everything)
    features = hstack([csr_matrix(vectors), WORD_SCALE * words.transform(everything)]).tocsr()
    negatives = [index[p] for p in ordinary_pieces]

    def train(positives: list[int]) -> LogisticRegression:
        rows = [*positives, *negatives]
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        weight = np.r_[
            np.full(len(positives), positive_weight * len(negatives) / max(len(positives), 1)),
            np.ones(len(negatives)),
        ]
        model = LogisticRegression(C=C, max_iter=3000)
        model.fit(features[rows], y, sample_weight=weight / weight.mean())
        return model

    first = train([index[ps[0]] for ps in risk_pieces if len(ps) == 1])
    chosen = []
    for text, ps in zip(examples.risks, risk_pieces, strict=True):
        rows = [index[p] for p in ps]
        if len(rows) == 1:
            chosen.append(rows[0])
            continue
        phrase = locate(text) if locate else None
        hits = [r for r, p in zip(rows, ps, strict=True) if phrase and phrase in _plain(p)]
        chosen.append(
            hits[0] if hits else rows[int(np.argmax(first.decision_function(features[rows])))]
        )
    final = train(chosen)
    coef = final.coef_[0]
    vocabulary = np.array(words.get_feature_names_out(), dtype=str)
    return RiskModel(
        coef[: vectors.shape[1]].astype(np.float32),
        float(final.intercept_[0]),
        vocabulary,
        words.idf_,
        coef[vectors.shape[1] :].astype(np.float32),
        vectors[[index[t] for t in statements]].astype(np.float32),
        np.array([c for c, _ in examples.statements], dtype=str),
    )


def _plain(text: str) -> str:
    from bot.assistant.safeguarding import normalise_for_risk

    return normalise_for_risk(text)
