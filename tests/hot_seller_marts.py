"""Scoring one origin of a small panel against a folder of published marts (the graph and text
feature tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from training import hot_sellers as hs

H = 3  # the panels' horizon
START = pd.Timestamp("2022-01-03")
KINDS = ("lamp", "mug", "scarf", "candle")


def top_growth_labels(frame: pd.DataFrame, *, lookback: int) -> pd.DataFrame:
    """Labels of `frame` (`unique_id, ds, y`): growth = mean of the next H weeks / max(mean of the
    past `lookback` weeks, 1); hot = the top 10% of a week; known H + 1 weeks after the week."""
    g = frame.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(lookback, min_periods=1).sum())
    future = g.transform(lambda v: v[::-1].rolling(H, min_periods=H).mean()[::-1].shift(-1))
    lab = pd.DataFrame({"unique_id": frame["unique_id"], "ds": frame["ds"],
                        "growth": future / np.maximum(past / lookback, 1)})
    lab = lab[lab["growth"].notna()].copy()
    lab["label"] = (lab["growth"] >= lab.groupby("ds")["growth"].transform(lambda v: v.quantile(0.9))).astype(float)
    lab["label_available_at"] = (lab["ds"] + pd.Timedelta(weeks=H + 1)).dt.tz_localize("UTC")
    return lab.reset_index(drop=True)


def marts_folder(tmp_path_factory, mart: str, rows: pd.DataFrame) -> Path:
    """A fresh folder holding `rows` as the published mart `mart`."""
    folder = tmp_path_factory.mktemp("marts")
    rows.to_parquet(folder / f"{mart}.parquet", index=False)
    return folder


def score_with_marts(frame: pd.DataFrame, labels: pd.DataFrame, folder: Path | None, cutoff: pd.Timestamp,
                     settings: hs.Settings, earlier_scores: list[pd.DataFrame] | None = None):
    """`score_origin` at `cutoff` with a constant blend forecast, the marts read from `folder`
    (and the scores of earlier origins, as the backtest passes them)."""
    train = frame[frame["ds"] <= cutoff].reset_index(drop=True)
    fut = frame[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + pd.Timedelta(weeks=H))].drop(columns="y")
    fc = fut.assign(blend=2.0).reset_index(drop=True)
    return hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[], earlier_scores=earlier_scores,
                           settings=dataclasses.replace(settings, marts_dir=None if folder is None else str(folder)))


def week(k: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=k)


def buzz_panel(n_items: int = 40, n_weeks: int = 50, seed: int = 0, lookback: int = 4) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A weekly panel with surges, its labels, and a text mart whose text turns to buzz in the
    weeks before each item's surge (what the planted synthetic reviews do)."""
    rng = np.random.default_rng(seed)
    rows, texts = [], []
    for i in range(n_items):
        item, onset, level = f"i{i:02d}", int(rng.integers(5, n_weeks)), float(rng.uniform(1, 4))
        kind = KINDS[i % len(KINDS)]
        for k in range(n_weeks):
            surge = 4.0 if onset <= k < onset + 6 else 0.0
            rows.append((item, week(k), float(rng.poisson(level * (1 + surge)))))
            if rng.uniform() < 0.8:
                buzz = " everyone is talking about it trending viral" if onset - 4 <= k < onset + 1 else ""
                texts.append((item, week(k).date(), f"nice {kind} works well good value{buzz}"))
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    lab = top_growth_labels(frame, lookback=lookback)
    mart = pd.DataFrame(texts, columns=["item_id", "week_start", "text"])
    mart["available_at"] = pd.to_datetime(mart["week_start"]).add(pd.Timedelta(weeks=1)).dt.tz_localize("UTC")
    mart["n_texts"] = 1
    return frame, lab, mart
