"""Scoring one origin of a small panel against a folder of published marts (the graph and text
feature tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from training import hot_sellers as hs

H = 3  # the panels' horizon


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
