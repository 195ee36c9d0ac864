"""The hot-seller classifier's supervised text score: one column, `text_score`, the log-odds a
logistic regression on the item's TF-IDF text gives its week of being a hot seller.

The unsupervised text columns (text_features.py: SVD components) leave the trees to find which
directions of the text matter among a few components that mostly tell items apart. Here the
labels pick the words: per (item, week t) row the inputs are the mean of the item's weekly
TF-IDF vectors (`item_week_texts`, one L2-normalized vector per item week with text) over the
`known_weeks` weeks up to t and, separately, over the last `recent_weeks` weeks up to t (the
buzz of the weeks before a surge); both windows' weights, and an intercept, are learned.

Time-ordered, so that a training row's score is what could have been computed at its own week:
the regression is fitted at checkpoints, each on the labels known at the checkpoint's close
(`label_available_at`), and a row of week t reads the latest checkpoint at or before t. A row's
own label is known `horizon` weeks after it, after its checkpoint, so it never fits its own
score, and the rows of the same weeks of other items (a season's surge) do not either: the score
a training row carries is as stale as the one the origin's rows carry. Checkpoints: the origin
(it scores the origin's rows) and, for the training rows, `checkpoint_step` weeks apart back
from the latest labelled week, at most `max_checkpoints`; rows older than the earliest are
missing, as are rows of items without text in the `known_weeks` window. The vocabulary and IDF
are fitted on the text of weeks at or before the origin only.

The score is linear in the weekly vectors, so every row's score comes from running sums of
one number per mart row and checkpoint, without building a document per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from darkhorse.core.schema import DS, ID, WEEK
from training.hot_sellers.text_features import PREFIX, load

_DAY_OFFSET = 1_000_000  # days since 1970 are negative before it
_ITEM_STRIDE = 4_000_000  # more days than any calendar here spans
COLUMN = f"{PREFIX}score"
"""The column `add_text_score` adds (in the text group: `text_features: scorer` sets it apart too)."""


@dataclass(frozen=True)
class TextScoreSettings:
    known_weeks: int = 52
    recent_weeks: int = 4
    checkpoint_step: int = 8
    max_checkpoints: int = 6
    max_rows: int = 20_000
    min_positives: int = 10
    c: float = 1.0
    seed: int = 0


class _Corpus:
    """The weekly TF-IDF vectors of the item weeks at or before the origin, sorted by item and
    week, with each item's row span."""

    def __init__(self, texts: pd.DataFrame) -> None:
        from training.multitask.text import tfidf_vectorizer

        codes, uniques = pd.factorize(texts["text"])
        self.tfidf = tfidf_vectorizer(len(uniques))
        self.x = self.tfidf.fit_transform(list(uniques))[codes].tocsr()
        item_codes, items = pd.factorize(texts[ID], sort=False)  # rows are grouped by item, weeks ascending
        self.item_index = pd.Index(items)
        self.keys = _key(item_codes, texts[DS].to_numpy("datetime64[ns]"))

    def spans(self, ids: np.ndarray, at: np.ndarray, weeks: int) -> tuple[np.ndarray, np.ndarray]:
        """Per (item, week) query: the mart rows of the item in (at - weeks, at] as [lo, hi)."""
        pos = self.item_index.get_indexer(ids)
        hi = np.searchsorted(self.keys, _key(pos, at), side="right")
        lo = np.searchsorted(self.keys, _key(pos, at - np.timedelta64(7 * weeks, "D")), side="right")
        missing = pos < 0
        hi[missing] = lo[missing] = 0
        return lo, hi

    def means(self, lo: np.ndarray, hi: np.ndarray) -> sp.csr_matrix:
        """Row r: the mean of the vectors of mart rows [lo[r], hi[r]) (zero when empty)."""
        n = hi - lo
        rows = np.repeat(np.arange(len(lo)), n)
        cols = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
        vals = np.repeat(1.0 / np.maximum(n, 1), n)
        avg = sp.csr_matrix((vals, (rows, cols)), shape=(len(lo), self.x.shape[0]))
        return (avg @ self.x).tocsr()


def _key(item: np.ndarray, week: np.ndarray) -> np.ndarray:
    """One sortable number per (item code, week): the item's rows are one run, weeks ascending."""
    days = week.astype("datetime64[D]").astype("int64") + _DAY_OFFSET
    return item.astype("int64") * _ITEM_STRIDE + days


def _checkpoints(cutoff: pd.Timestamp, latest_labelled: pd.Timestamp, s: TextScoreSettings) -> list[pd.Timestamp]:
    back = [latest_labelled - pd.Timedelta(weeks=s.checkpoint_step * j) for j in range(s.max_checkpoints - 1)]
    return sorted({cutoff, *back})


def _fit(corpus: _Corpus, rows: pd.DataFrame, s: TextScoreSettings) -> np.ndarray | None:
    """Logistic weights (known window, recent window, intercept) on the labelled `rows`
    (`unique_id, ds, label`), or None when too few positives have text."""
    from sklearn.linear_model import LogisticRegression

    ids, at = rows[ID].to_numpy(), rows[DS].to_numpy("datetime64[ns]")
    lo_k, hi_k = corpus.spans(ids, at, s.known_weeks)
    has = hi_k > lo_k
    rows, lo_k, hi_k = rows[has], lo_k[has], hi_k[has]
    y = rows["label"].to_numpy(dtype="float64")
    if y.sum() < s.min_positives or y.sum() == len(y):
        return None
    if len(rows) > s.max_rows:  # the positives (up to half the rows), the negatives sampled
        rng = np.random.default_rng(s.seed)
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        if len(pos) > s.max_rows // 2:
            pos = rng.choice(pos, size=s.max_rows // 2, replace=False)
        neg = rng.choice(neg, size=min(len(neg), s.max_rows - len(pos)), replace=False)
        keep = np.sort(np.concatenate([pos, neg]))
        rows, lo_k, hi_k, y = rows.iloc[keep], lo_k[keep], hi_k[keep], y[keep]
    lo_r, hi_r = corpus.spans(rows[ID].to_numpy(), rows[DS].to_numpy("datetime64[ns]"), s.recent_weeks)
    design = sp.hstack([corpus.means(lo_k, hi_k), corpus.means(lo_r, hi_r)]).tocsr()
    model = LogisticRegression(C=s.c, max_iter=300).fit(design, y)
    return np.append(model.coef_.ravel(), model.intercept_[0])


def _scores(corpus: _Corpus, w: np.ndarray, known: tuple[np.ndarray, np.ndarray],
            recent: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The fitted log-odds of each (item, week) query, given its mart-row spans in both windows
    (`_Corpus.spans`), from running sums of one number per mart row."""
    v = corpus.x.shape[1]
    per_row = np.column_stack([corpus.x @ w[:v], corpus.x @ w[v:2 * v]])
    csum = np.vstack([np.zeros((1, 2)), np.cumsum(per_row, axis=0)])
    (lo_k, hi_k), (lo_r, hi_r) = known, recent
    with np.errstate(invalid="ignore", divide="ignore"):
        known = (csum[hi_k, 0] - csum[lo_k, 0]) / (hi_k - lo_k)
        recent = np.where(hi_r > lo_r, (csum[hi_r, 1] - csum[lo_r, 1]) / np.maximum(hi_r - lo_r, 1), 0.0)
    return np.where(hi_k > lo_k, known + recent + w[-1], np.nan)


def add_text_score(feats: pd.DataFrame, marts_dir: str | Path | None, known: pd.DataFrame | None, *,
                   cutoff: pd.Timestamp, settings: TextScoreSettings | None = None) -> pd.DataFrame:
    """`feats` (`unique_id, ds` + features, rows of weeks at or before `cutoff`) with `text_score`
    (same index and order); unchanged when the mart holds no text of a week at or before
    `cutoff` or too few labels `known` at the origin (`unique_id, ds, label, label_available_at`)
    have text to fit on."""
    s = settings or TextScoreSettings()
    texts = load(marts_dir)
    if texts is None or known is None or not len(known):
        return feats
    texts = texts[texts[DS] <= cutoff]
    if len(texts) < 3:
        return feats
    corpus = _Corpus(texts.reset_index(drop=True))
    known = known[[ID, DS, "label", "label_available_at"]].assign(**{ID: known[ID].astype(str)})
    available = pd.to_datetime(known["label_available_at"], utc=True)
    latest = pd.Timestamp(known[DS].max())
    ids = feats[ID].astype(str).to_numpy()
    at = pd.to_datetime(feats[DS]).to_numpy("datetime64[ns]")
    spans = corpus.spans(ids, at, s.known_weeks), corpus.spans(ids, at, s.recent_weeks)
    out = np.full(len(feats), np.nan)
    fitted = False
    for c in _checkpoints(cutoff, latest, s):
        w = _fit(corpus, known[available <= pd.Timestamp(c + WEEK, tz="UTC")], s)
        if w is None:
            continue
        fitted = True
        use = at >= np.datetime64(c)  # later checkpoints overwrite: each row reads the latest at or before its week
        out[use] = _scores(corpus, w, *((lo[use], hi[use]) for lo, hi in spans))
    if not fitted:
        return feats
    return feats.assign(**{COLUMN: out})
