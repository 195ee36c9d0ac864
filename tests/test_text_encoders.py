"""Text representations of the multi-task model: TF-IDF + SVD learned from the given corpus
only, and a pretrained encoder loaded from a local folder (a tiny one this test saves)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.multitask.text import CorpusText, PretrainedText, TextEncoderError, make_encoder

DOCS = ["red lamp bright light", "blue lamp soft light", "red mug tea cup", "blue mug coffee cup",
        "lamp shade red", "coffee mug blue"] * 5


def test_corpus_text_learns_from_the_given_documents_only():
    enc = CorpusText(dim=4).fit(DOCS)
    z = enc.transform(["red lamp", "", "blue mug coffee", "zebra"])
    assert z.shape == (4, 4)
    assert np.allclose(np.linalg.norm(z[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not z[1].any()  # an empty document is the zero vector
    assert not z[3].any()  # a word the training corpus never had carries nothing
    assert "zebra" not in enc.tfidf_.vocabulary_
    # similar documents lie closer than different ones
    a, b, c = enc.transform(["red lamp light", "blue lamp light", "coffee mug cup"])
    assert a @ b > a @ c


def test_corpus_text_without_enough_text_is_zero():
    assert not CorpusText(dim=3).fit(["", "x"]).transform(["x"]).any()


class _Bag(torch.nn.Module):
    def __init__(self, n: int, d: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(n, d, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).float()
        return (self.emb(ids) * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)


@pytest.fixture
def encoder_dir(tmp_path):
    torch.manual_seed(0)
    vocab = {"[PAD]": 0, "[UNK]": 1, "red": 2, "lamp": 3, "mug": 4}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "config.json").write_text(json.dumps({"max_length": 8}))
    torch.jit.script(_Bag(len(vocab), 6)).save(str(tmp_path / "encoder.pt"))
    return tmp_path


def test_a_pretrained_encoder_loads_from_a_local_folder(encoder_dir):
    enc = make_encoder(encoder_dir, dim=99)
    assert isinstance(enc, PretrainedText) and enc.dim == 6
    ids = enc.ids(["Red LAMP unknownword"])
    assert ids[0, :3].tolist() == [2, 3, 1] and not ids[0, 3:].any()
    z = enc.fit(DOCS).transform(["red lamp", "", "mug"])
    assert z.shape == (3, 6) and not z[1].any()
    # the same as the module itself computes
    ref = enc.module(torch.tensor([[2, 3, 0, 0, 0, 0, 0, 0]])).detach().numpy()[0]
    assert np.allclose(z[0], ref, atol=1e-6)


def test_a_broken_encoder_folder_names_the_file(tmp_path, encoder_dir):
    with pytest.raises(TextEncoderError, match=r"vocab\.json is missing"):
        PretrainedText(tmp_path / "nowhere")
    (encoder_dir / "encoder.pt").write_bytes(b"not torchscript")
    with pytest.raises(TextEncoderError, match=r"encoder\.pt"):
        PretrainedText(encoder_dir)
