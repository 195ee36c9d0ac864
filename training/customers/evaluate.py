"""Next-order metrics and the comparison of the sequence model with the baselines.

* recall@k: the share of the next order's distinct items among the top k (per customer, then
  the mean);
* MRR: the mean of 1 / the rank of the first item of the next order in the ranking (0 when
  none of the ranked items is in it);
* quantity, revenue and discount MAE of the next order (discount: lines with a reference
  price only).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from training.customers import data as cdata
from training.customers.baselines import METHODS, Baselines


def recall_at(ranked: Sequence[Sequence[str]], baskets: Sequence[Sequence[str]], k: int = 10) -> float:
    vals = [len(set(r[:k]) & set(b)) / len(set(b)) for r, b in zip(ranked, baskets, strict=True) if b]
    return float(np.mean(vals)) if vals else float("nan")


def mrr(ranked: Sequence[Sequence[str]], baskets: Sequence[Sequence[str]]) -> float:
    vals = []
    for r, b in zip(ranked, baskets, strict=True):
        items = set(b)
        vals.append(next((1.0 / (k + 1) for k, i in enumerate(r) if i in items), 0.0))
    return float(np.mean(vals)) if vals else float("nan")


def scores(pred: dict[str, object], samples: cdata.Samples, *, k: int = 10) -> dict[str, float]:
    disc = np.asarray(pred["discount"], dtype="float64")
    known = np.isfinite(samples.discount)
    return {
        f"recall@{k}": recall_at(pred["ranked"], samples.basket, k),
        "mrr": mrr(pred["ranked"], samples.basket),
        "quantity_mae": float(np.mean(np.abs(np.asarray(pred["quantity"]) - samples.quantity))),
        "revenue_mae": float(np.mean(np.abs(np.asarray(pred["revenue"]) - samples.revenue))),
        "discount_mae": float(np.mean(np.abs(disc[known] - samples.discount[known]))) if known.any() else float("nan"),
    }


def compare(
    marts_dir: Path, *, holdout_weeks: int = 8, val_weeks: int = 4, params: dict | None = None,
    progress=print,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Every method on the same held-out weeks of the marts in `marts_dir`: one row per
    method (recall@10, MRR, MAEs, seconds) and facts about the split."""
    from training.customers.model import SequenceModel, SequenceParams

    lines, weeks = cdata.read_marts(marts_dir)
    split = cdata.make_split(lines, holdout_weeks=holdout_weeks, val_weeks=val_weeks)
    before = lines[pd.to_datetime(lines["week_start"]) < split.test_start]
    p = SequenceParams(**(params or {}))
    vocab = cdata.Vocab.fit(before[pd.to_datetime(before["week_start"]) < split.val_start], max_items=p.max_items)
    if p.home_distance:
        vocab = vocab.with_home_distances(cdata.read_distances(marts_dir))
    tg = cdata.targets(lines, split)
    t0 = time.perf_counter()
    sets = {name: cdata.build_samples(lines, weeks, vocab, targets=t, seq_len=p.seq_len) for name, t in tg.items()}
    progress(f"samples: train {len(sets['train'])}, validation {len(sets['val'])}, test {len(sets['test'])} "
             f"({time.perf_counter() - t0:.1f} s); vocabulary {len(vocab.items)} items, {len(vocab.regions)} regions")
    rows = []
    base = Baselines().fit(before)
    for m in METHODS:
        t = time.perf_counter()
        rows.append({"method": m, **scores(base.predict(m, sets["test"]), sets["test"]),
                     "seconds": time.perf_counter() - t})
    t = time.perf_counter()
    model = SequenceModel(p, vocab).fit(sets["train"], sets["val"], progress=progress)
    pred = model.predict(sets["test"], k=100)
    rows.append({"method": "sequence_model", **scores(pred, sets["test"]), "seconds": time.perf_counter() - t})
    info = {"test_start": split.test_start.date().isoformat(), "val_start": split.val_start.date().isoformat(),
            "last_week": split.last_week.date().isoformat(), "test_customers": len(sets["test"]),
            "train_samples": len(sets["train"]), "epochs": model.epochs_}
    return pd.DataFrame(rows), info


__all__ = ["compare", "mrr", "recall_at", "scores"]
