"""The sentence encoder gives each text the same vector whatever it is batched with: a batch of
texts of different lengths (padded, masked) matches each text encoded alone."""

from __future__ import annotations

import numpy as np

from bot.assistant.embeddings import DIMENSIONS, SentenceEncoder


def test_a_batch_of_different_lengths_matches_each_text_alone():
    encoder = SentenceEncoder()
    texts = [
        "who is the senco",
        "my son is 8 and struggling with reading, the school says he will catch up, what can I do",
        "EHCP?",
        "School told me at parents evening they cant afford a TA for DD, is that allowed",
    ]
    together = encoder._compute(texts, batch_size=32)
    alone = np.vstack([encoder._compute([t], batch_size=1) for t in texts])
    assert together.shape == (len(texts), DIMENSIONS)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert (together * alone).sum(axis=1).min() > 0.99999


def test_meaning_is_kept_close_questions_are_closer_than_unrelated_ones():
    encoder = SentenceEncoder()
    a, b, c = encoder.encode(
        ["what does the SENCO do", "what is the role of the special needs coordinator", "hello"]
    )
    assert a @ b > a @ c
