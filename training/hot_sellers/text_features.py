"""The hot-seller classifier's text features: per item and week, a few TF-IDF + truncated SVD
components of the item's text known by that week's close, read from the `item_week_texts` mart
(dbt_project/models/marts/_graph__models.yml: order-line descriptions, review titles and bodies,
one row per item per week with text, known from the week's close).

At an origin the representation (`training.multitask.text.CorpusText`: TF-IDF over word 1-2
grams, then `text_dim` SVD components) is fitted on the mart rows of weeks at or before the origin
only, so neither its vocabulary nor its components see later text. Each mart row (item, week w)
is embedded once (an L2-normalized vector); the feature row of (item, week t) reads only the rows
of its item with w <= t:

* `text_recent_<k>`: the direction of the sum of the vectors of the last `text_recent_weeks`
  weeks up to t (what is written about the item now: the planted buzz of the synthetic reviews);
* `text_known_<k>`: the direction of the sum over every week up to t (what the item is: an
  order line's description).

Missing where the item had no text in the window (XGBoost learns a direction for it). One
weekly vector per row and two as-of lookups of running sums, instead of one concatenated
document per (item, week) row as the multi-task model builds for its samples
(`GraphText.documents`): the classifier reads every week of every item, and those documents
would repeat each week's text `text_recent_weeks` and more times.

On when `hot_sellers.classifier.text_features` is set and the marts folder holds the mart with
rows at or before the origin; otherwise the feature rows are returned unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID
from training.hot_sellers.mart_reader import read_mart

MART = "item_week_texts"
PREFIX = "text_"
"""Every text column starts with it (these and the supervised `text_score`)."""
GROUP = (f"{PREFIX}recent_", f"{PREFIX}known_")
"""The prefixes of this module's columns (the group `fit_scorers` sets apart)."""


class TextFeaturesError(DarkHorseError, ValueError):
    """The item text mart lacks a column; the message names the file."""


def text_columns(dim: int) -> list[str]:
    """The columns `add_text_features` adds for `dim` components, in order."""
    recent, known = GROUP
    return [f"{recent}{k}" for k in range(dim)] + [f"{known}{k}" for k in range(dim)]


def _prepare(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("item_id", "week_start", "text") if c not in frame.columns]
    if missing:
        raise TextFeaturesError(f"{path}: missing column(s) {missing}")
    out = pd.DataFrame({ID: frame["item_id"].astype(str), DS: pd.to_datetime(frame["week_start"]),
                        "text": frame["text"].fillna("").astype(str)})
    return out[out["text"] != ""].sort_values([ID, DS], kind="stable").reset_index(drop=True)


def load(marts_dir: str | Path | None) -> pd.DataFrame | None:
    """`unique_id, ds, text` of every item week with text (sorted by item and week), or None when
    the folder is not given or has no text rows (read once per change of the file)."""
    return read_mart(marts_dir, MART, _prepare, what="text features")


def weekly_vectors(texts: pd.DataFrame, cutoff: pd.Timestamp, *, dim: int, seed: int = 0) -> pd.DataFrame:
    """`unique_id, ds` + `dim` components of each text row of a week at or before `cutoff`, the
    representation fitted on those rows only (identical texts embedded once)."""
    from training.multitask.text import CorpusText

    known = texts[texts[DS] <= cutoff]
    enc = CorpusText(dim=dim, seed=seed).fit(known["text"].tolist())
    codes, uniques = pd.factorize(known["text"])
    z = enc.transform(list(uniques)).astype("float64")[codes]
    return pd.concat([known[[ID, DS]].reset_index(drop=True),
                      pd.DataFrame(z, columns=[f"c{k}" for k in range(dim)])], axis=1)


def _as_of(keys: pd.DataFrame, running: pd.DataFrame, at: pd.Series, comps: list[str]) -> np.ndarray:
    """The running sums of the last text row of each key's item at or before `at` (0 before any)."""
    q = pd.DataFrame({ID: keys[ID].to_numpy(), DS: at.to_numpy().astype(running[DS].dtype), "_row": np.arange(len(keys))})
    q = q[q[DS].notna()].sort_values(DS, kind="stable")
    got = pd.merge_asof(q, running, on=DS, by=ID, direction="backward")
    out = np.zeros((len(keys), len(comps)))
    out[got["_row"].to_numpy()] = got[comps].fillna(0.0).to_numpy()
    return out


def _direction(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-9, v / norm, np.nan)


def add_text_features(feats: pd.DataFrame, marts_dir: str | Path | None, *, cutoff: pd.Timestamp, dim: int,
                      recent_weeks: int, seed: int = 0) -> pd.DataFrame:
    """`feats` (`unique_id, ds` + features, rows of weeks at or before `cutoff`, any index) with
    `text_columns(dim)` joined per (item, week), same index and order; unchanged when the mart
    is missing or holds no text of a week at or before `cutoff`."""
    texts = load(marts_dir)
    if texts is None or not (texts[DS] <= cutoff).any():
        return feats
    vec = weekly_vectors(texts, cutoff, dim=dim, seed=seed)
    comps = [f"c{k}" for k in range(dim)]
    running = vec.copy()
    running[comps] = vec.groupby(ID, sort=False)[comps].cumsum()
    running = running.sort_values(DS, kind="stable")
    keys = pd.DataFrame({ID: feats[ID].astype(str).to_numpy(), DS: pd.to_datetime(feats[DS]).to_numpy()})
    upto = _as_of(keys, running, keys[DS], comps)
    before = _as_of(keys, running, keys[DS] - pd.Timedelta(weeks=recent_weeks), comps)
    cols = text_columns(dim)
    values = np.hstack([_direction(upto - before), _direction(upto)])
    return pd.concat([feats, pd.DataFrame(values, columns=cols, index=feats.index)], axis=1)
