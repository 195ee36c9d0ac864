"""Text representations of an item's documents (training/multitask/context.py).

* `CorpusText`: TF-IDF (word 1-2 grams, sublinear tf) + truncated SVD, fitted on the
  documents of the training samples only (every one known at the origin), so the vocabulary
  and the components never see later text.
* `PretrainedText`: a pretrained encoder from a local folder named in the config
  (`multitask.text_encoder`); nothing is downloaded. The folder holds `vocab.json` (token ->
  id; id 0 pads, the `[UNK]` entry takes unknown tokens), `encoder.pt` (a TorchScript module:
  LongTensor [batch, length] of ids -> FloatTensor [batch, dim]) and optionally `config.json`
  (`{"max_length": 128, "lowercase": true}`). TorchScript is loaded without unpickling
  Python objects.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from darkhorse.core.errors import DarkHorseError

_TOKEN = re.compile(r"\w+", re.UNICODE)


class TextEncoderError(DarkHorseError, ValueError):
    """A text encoder folder is missing a file or holds a wrong one; the message names it."""


class TextEncoder(Protocol):
    dim: int

    def fit(self, docs: list[str]) -> TextEncoder: ...

    def transform(self, docs: list[str]) -> np.ndarray: ...


def tfidf_vectorizer(n_docs: int, max_features: int = 20_000):
    """The corpus TF-IDF: word 1-2 grams, sublinear tf, words seen in at least two of `n_docs`
    documents (one below 50), float32 (also the hot-seller text score's)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(max_features=max_features, ngram_range=(1, 2), sublinear_tf=True,
                           min_df=2 if n_docs >= 50 else 1, dtype=np.float32)


class CorpusText:
    """TF-IDF + truncated SVD learned from the training documents; rows L2-normalized, an
    empty document is the zero vector."""

    def __init__(self, dim: int = 32, max_features: int = 20_000, seed: int = 0) -> None:
        self.dim, self.max_features, self.seed = dim, max_features, seed

    def fit(self, docs: list[str]) -> CorpusText:
        from sklearn.decomposition import TruncatedSVD
        texts = [d for d in docs if d]
        self.tfidf_ = None
        if len(texts) < 3:
            return self
        self.tfidf_ = tfidf_vectorizer(len(texts), max_features=self.max_features)
        try:
            x = self.tfidf_.fit_transform(texts)
        except ValueError:  # no token at all
            self.tfidf_ = None
            return self
        k = max(1, min(self.dim, x.shape[1] - 1, x.shape[0] - 1))
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.seed).fit(x)
        return self

    def transform(self, docs: list[str]) -> np.ndarray:
        out = np.zeros((len(docs), self.dim), dtype="float32")
        if self.tfidf_ is None:
            return out
        z = self.svd_.transform(self.tfidf_.transform(docs)).astype("float32")
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-6)
        out[:, : z.shape[1]] = z
        out[np.array([not d for d in docs], dtype=bool)] = 0.0
        return out


class PretrainedText:
    """An encoder loaded from a local folder (see the module docstring); `fit` learns nothing."""

    def __init__(self, folder: str | Path, batch_size: int = 256) -> None:
        import torch

        self.folder = Path(folder)
        vocab_path, model_path = self.folder / "vocab.json", self.folder / "encoder.pt"
        for p in (vocab_path, model_path):
            if not p.exists():
                raise TextEncoderError(f"text encoder {self.folder}: {p.name} is missing")
        try:
            self.vocab: dict[str, int] = {str(k): int(v) for k, v in json.loads(vocab_path.read_text()).items()}
        except (ValueError, AttributeError) as e:
            raise TextEncoderError(f"{vocab_path}: not a JSON object of token -> id ({e})") from None
        cfg_path = self.folder / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        self.max_length = int(cfg.get("max_length", 128))
        self.lowercase = bool(cfg.get("lowercase", True))
        self.unk = self.vocab.get("[UNK]", 0)
        self.batch_size = batch_size
        try:
            self.module = torch.jit.load(str(model_path), map_location="cpu").eval()
        except RuntimeError as e:
            raise TextEncoderError(f"{model_path}: not a TorchScript module ({e})") from None
        with torch.no_grad():
            probe = self.module(torch.ones(1, 2, dtype=torch.long))
        if probe.ndim != 2:
            raise TextEncoderError(f"{model_path}: must return [batch, dim], returned shape {tuple(probe.shape)}")
        self.dim = int(probe.shape[1])

    def ids(self, docs: list[str]) -> np.ndarray:
        out = np.zeros((len(docs), self.max_length), dtype="int64")
        for i, d in enumerate(docs):
            toks = _TOKEN.findall(d.lower() if self.lowercase else d)[-self.max_length:]
            out[i, : len(toks)] = [self.vocab.get(t, self.unk) for t in toks]
        return out

    def fit(self, docs: list[str]) -> PretrainedText:
        return self

    def transform(self, docs: list[str]) -> np.ndarray:
        import torch

        ids = self.ids(docs)
        parts = []
        with torch.no_grad():
            for a in range(0, len(ids), self.batch_size):
                parts.append(self.module(torch.from_numpy(ids[a:a + self.batch_size])).float().numpy())
        z = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype="float32")
        z[np.array([not d for d in docs], dtype=bool)] = 0.0
        return z.astype("float32")


def make_encoder(folder: str | Path | None, dim: int, seed: int = 0) -> TextEncoder:
    return PretrainedText(folder) if folder else CorpusText(dim=dim, seed=seed)
