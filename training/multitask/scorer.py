"""The multi-task hot-seller scorer: samples, inputs and targets around the network of
`model.py`, with the interface of the other hot-seller scorers (`fit` on the labels known at
the origin, `predict_proba` at the origin).

A sample is (item, week t) with a known label; everything it reads is as of t's close: the
item's last `window` weeks, the graph (edges with week <= t, the heaviest `neighbours` as of t,
their node vectors at t), the SQL graph features of (item, t), and the text of the item's
weeks <= t. The graph and text marts are cut at the origin before anything else
(`GraphText.until`), so no row after the origin can reach a sample or a prediction. The text
representation (TF-IDF + SVD) is fitted on the training samples' documents only.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y
from training.multitask.context import GraphText
from training.multitask.model import MultiTaskSettings, build_net, describe, lightning_module
from training.multitask.text import make_encoder

log = logging.getLogger(__name__)

# auxiliary targets, where the panel has them: the future weekly mean of each column
AUX_COLUMNS = ("mean_rating", "helpful_votes", "customers")
NODE_FEATURES = ("log_mean_4", "log_mean_prev_8", "log_momentum", "log_last", "log_age")


@functools.lru_cache(maxsize=4)
def _load_context(folder: str, stamp: float) -> GraphText:
    return GraphText.load(folder)


def load_context(folder: str | Path) -> GraphText:
    """The graph and text marts of a folder, read once per change of the folder."""
    p = Path(folder)
    stamp = max((f.stat().st_mtime for f in p.glob("item_*.parquet")), default=0.0) if p.exists() else 0.0
    return _load_context(str(p.resolve()) if p.exists() else str(p), stamp)


def _series_sums(values: np.ndarray, starts_per_row: np.ndarray) -> np.ndarray:
    """Cumulative sums that restart at every series (cs[i] = sum of the series up to row i)."""
    cs = np.cumsum(values)
    base = np.where(starts_per_row > 0, cs[starts_per_row - 1], 0.0)
    return cs - base


def _window_sum(cs: np.ndarray, row_start: np.ndarray, rows: np.ndarray, lo: int, hi: int,
                row_end: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of rows r+lo .. r+hi (inclusive, within the series) for each row r."""
    a = np.maximum(rows + lo, row_start[rows])
    b = rows + hi if row_end is None else np.minimum(rows + hi, row_end[rows])
    ok = b >= a
    upper = cs[np.minimum(b, len(cs) - 1)]
    lower = np.where(a > row_start[rows], cs[np.maximum(a - 1, 0)], 0.0)
    return np.where(ok, upper - lower, 0.0), np.where(ok, b - a + 1, 0)


class MultiTaskHotSellerScorer:
    """`fit(frame, labels, covariates=..., cutoff=...)` on the labels known at the origin;
    `predict_proba(frame, covariates=..., cutoff=...)` scores every item at its last week."""

    def __init__(self, *, marts_dir: str | Path | None = None, text_encoder: str | Path | None = None,
                 horizon: int = 12, lookback: int = 4, floor: float = 1.0, **params: Any) -> None:
        self.settings = MultiTaskSettings(**params)
        self.marts_dir, self.text_encoder = marts_dir, text_encoder
        self.horizon, self.lookback, self.floor = horizon, lookback, floor

    # ------------------------------------------------------------------ inputs
    def _context(self, context: GraphText | None, cutoff: pd.Timestamp) -> GraphText:
        if context is None:
            if self.marts_dir is None:
                raise ValueError("multitask: give marts_dir (the folder of the graph and text marts) or a context")
            context = load_context(self.marts_dir)
        return context.until(cutoff)

    def _tables(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        from training.models.torch_common import series_bounds

        y = np.clip(frame[Y].to_numpy(dtype="float64"), 0.0, None)
        starts, ends = series_bounds(frame)
        row_start = np.repeat(starts, ends - starts + 1)
        row_end = np.repeat(ends, ends - starts + 1)
        rows = np.arange(len(frame))
        cs = _series_sums(y, row_start)
        s4, n4 = _window_sum(cs, row_start, rows, -3, 0)
        s8, n8 = _window_sum(cs, row_start, rows, -11, -4)
        m4, m8 = s4 / np.maximum(n4, 1), s8 / np.maximum(n8, 1)
        age = rows - row_start + 1.0
        node = np.column_stack([np.log1p(m4), np.log1p(m8), np.log((m4 + 0.1) / (m8 + 0.1)), np.log1p(y),
                                np.log1p(age) / 4.0]).astype("float32")
        ylog = np.log1p(y)
        cols = [ylog[:, None]]
        if self.scaler_.columns:
            cols.append(self.scaler_.transform(frame))
        time_table = np.hstack(cols)
        time_table = np.vstack([time_table, np.zeros((1, time_table.shape[1]))]).astype("float32")
        return {"node": node, "time": time_table, "row_start": row_start, "row_end": row_end, "cs": cs, "y": y}

    def _targets(self, frame: pd.DataFrame, t: dict[str, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Growth (log1p of the label's growth score) and the auxiliary targets of sample rows;
        every week read is at or before the origin (a known label's horizon has closed)."""
        h, lb = self.horizon, self.lookback
        fut, nf = _window_sum(t["cs"], t["row_start"], rows, 1, h, t["row_end"])
        past, _ = _window_sum(t["cs"], t["row_start"], rows, -lb + 1, 0)
        growth = np.log1p((fut / np.maximum(nf, 1)) / np.maximum(past / lb, self.floor))
        aux, mask = [], []
        for c in self.aux_columns_:
            v = frame[c].to_numpy(dtype="float64")
            vv = np.nan_to_num(v, nan=0.0)
            cs = _series_sums(vv, t["row_start"])
            s, n = _window_sum(cs, t["row_start"], rows, 1, h, t["row_end"])
            mean = s / np.maximum(n, 1)
            aux.append(mean / 5.0 if c == "mean_rating" else np.log1p(np.clip(mean, 0, None)))
            mask.append((n == h).astype("float32"))
        if not aux:
            return growth.astype("float32"), np.zeros((len(rows), 0), "float32"), np.zeros((len(rows), 0), "float32")
        return growth.astype("float32"), np.column_stack(aux).astype("float32"), np.column_stack(mask)

    def _inputs(self, frame: pd.DataFrame, t: dict[str, np.ndarray], rows: np.ndarray, ctx: GraphText) -> dict[str, np.ndarray]:
        s = self.settings
        queries = frame.iloc[rows][[ID, DS]].reset_index(drop=True)
        out: dict[str, np.ndarray] = {"rows": rows}
        level_cols = t["node"][rows]
        out["static"] = level_cols[:, [0, 4]]
        if s.use_graph:
            out["node"] = t["node"][rows]
            nb = ctx.neighbours(queries, s.neighbours)
            agg = np.zeros_like(out["node"])
            if len(nb):
                key = pd.DataFrame({ID: frame[ID].to_numpy(), DS: frame[DS].to_numpy(), "row": np.arange(len(frame))})
                look = nb.assign(**{ID: nb["neighbour_id"], DS: queries[DS].to_numpy()[nb["q"].to_numpy()]})
                look = look.merge(key, on=[ID, DS], how="inner")
                if len(look):
                    from scipy import sparse

                    w = np.log1p(look["shared_customers"].to_numpy(dtype="float64"))
                    adj = sparse.csr_matrix((w, (look["q"].to_numpy(), look["row"].to_numpy())),
                                            shape=(len(rows), len(frame)))
                    deg = np.asarray(adj.sum(axis=1)).ravel()
                    # one message-passing step: the weighted mean of the neighbours' node vectors
                    agg = (adj @ t["node"]) / np.maximum(deg, 1e-9)[:, None]
            out["agg"] = agg.astype("float32")
            g = ctx.graph_features(queries)
            counts = ["degree", "neighbours", "shared_customers", "surging_neighbours", "neighbours_labelled"]
            g[counts] = np.log1p(g[counts])
            growth = ["neighbour_growth", "max_neighbour_growth"]
            g[growth] = np.log1p(g[growth].clip(lower=0))
            out["graph"] = g.to_numpy(dtype="float32")
        if s.use_text:
            recent, history = ctx.documents(queries, recent_weeks=s.text_recent_weeks, history_weeks=s.text_history_weeks)
            out["docs"] = np.array([recent, history], dtype=object).T
        return out

    def _encode_text(self, inputs: dict[str, np.ndarray]) -> None:
        if "docs" in inputs:
            docs = inputs.pop("docs")
            r, hst = self.encoder_.transform(list(docs[:, 0])), self.encoder_.transform(list(docs[:, 1]))
            inputs["text"] = np.stack([r, hst], axis=1)
            inputs["text_mask"] = np.column_stack([[bool(d) for d in docs[:, 0]], [bool(d) for d in docs[:, 1]]]).astype("float32")

    def _batch(self, t: dict[str, np.ndarray], inp: dict[str, np.ndarray], idx: np.ndarray, targets: dict | None):
        import torch

        from training.models.torch_common import gather_windows

        rows = inp["rows"][idx]
        widx, real = gather_windows(len(t["time"]) - 1, rows, t["row_start"][rows], self.settings.window)
        x = t["time"][widx].copy()
        n_obs = real.sum(axis=1)
        level = (x[:, :, 0] * real).sum(axis=1) / np.maximum(n_obs, 1.0)
        x[:, :, 0] = (x[:, :, 0] - level[:, None]) * real
        x = np.concatenate([x, real[:, :, None]], axis=2)
        b = {"x": torch.from_numpy(x), "mask": torch.from_numpy(real),
             "static": torch.from_numpy(inp["static"][idx])}
        for k in ("node", "agg", "graph", "text", "text_mask"):
            if k in inp:
                b[k] = torch.from_numpy(np.ascontiguousarray(inp[k][idx]))
        if targets is not None:
            for k, v in targets.items():
                b[k] = torch.from_numpy(np.ascontiguousarray(v[idx]))
        return b

    def _loader(self, t, inp, idx, targets, *, shuffle: bool, generator=None):
        from training.models.torch_common import sample_loader

        return sample_loader(len(idx), lambda b: self._batch(t, inp, idx[b], targets), self.settings.batch_size,
                             shuffle=shuffle, generator=generator)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, frame: pd.DataFrame, labels: pd.DataFrame, *, covariates: list[str], cutoff: pd.Timestamp,
            context: GraphText | None = None) -> MultiTaskHotSellerScorer:
        """Train on `labels` (only labels known at `cutoff` may be passed) over `frame` (rows
        up to `cutoff`); graph and text from `context` (default: the marts of `marts_dir`)."""
        from training.models.torch_common import (
            Standardizer,
            fit_lightning,
            held_out_series,
            torch_run,
        )

        t0 = time.perf_counter()
        s = self.settings
        frame = frame[frame[DS] <= cutoff].sort_values([ID, DS], kind="stable").reset_index(drop=True)
        ctx = self._context(context, cutoff)
        keyed = frame[[ID, DS]].reset_index().rename(columns={"index": "row"}).merge(labels[[ID, DS, "label"]], on=[ID, DS])
        keyed = keyed[keyed[DS] <= cutoff - pd.Timedelta(weeks=self.horizon)]  # their horizon has closed
        if len(keyed) > s.max_train_rows:
            keyed = keyed.sort_values([DS, ID], ascending=[False, True], kind="stable").head(s.max_train_rows)
        y = keyed["label"].to_numpy(dtype="float32")
        self.n_train_, self.n_pos_ = len(y), int(y.sum())
        self.prior_ = float(y.mean()) if len(y) else 0.0
        self.net_ = None
        if self.n_pos_ == 0 or self.n_pos_ == len(y):
            return self
        val_items = held_out_series(np.sort(keyed[ID].unique()), s.val_fraction, s.seed)
        is_val = keyed[ID].isin(val_items).to_numpy()
        if y[is_val].sum() == 0:
            is_val[:] = False
        self.covariates_ = [c for c in covariates if c in frame.columns]
        self.scaler_ = Standardizer.fit(frame[~frame[ID].isin(val_items)], self.covariates_)
        self.aux_columns_ = [c for c in AUX_COLUMNS if c in frame.columns] if s.multi_task else []
        t = self._tables(frame)
        rows = keyed["row"].to_numpy()
        inp = self._inputs(frame, t, rows, ctx)
        if s.use_text:
            self.encoder_ = make_encoder(self.text_encoder, s.text_dim, s.seed)
            docs = inp["docs"]
            train_docs = [d for d in np.concatenate([docs[~is_val, 0], docs[~is_val, 1]]) if d]
            self.encoder_.fit(train_docs)
            self._encode_text(inp)
        growth, aux, aux_mask = self._targets(frame, t, rows)
        targets = {"y": y, "growth": growth, "aux": aux, "aux_mask": aux_mask}
        t_prep = time.perf_counter() - t0
        with torch_run(s.n_threads, s.seed) as gen:
            self.net_ = build_net(
                n_time=t["time"].shape[1] + 1, n_static=inp["static"].shape[1], n_node=len(NODE_FEATURES),
                n_graph=inp["graph"].shape[1] if "graph" in inp else 0,
                text_dim=inp["text"].shape[2] if "text" in inp else 1, n_aux=aux.shape[1], s=s)
            module = lightning_module(self.net_, s)
            tr_idx, va_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
            train = self._loader(t, inp, tr_idx, targets, shuffle=True, generator=gen)
            val = self._loader(t, inp, va_idx, targets, shuffle=False) if len(va_idx) else None
            info: dict[str, Any] = {}
            if s.staged and s.use_graph:
                self.net_.stage = 1
                info["stage1"] = fit_lightning(module, train, val, max_epochs=s.stage_epochs, patience=s.patience,
                                               device=s.device, gradient_clip=1.0)
                self.net_.stage = 2
            info.update(fit_lightning(module, train, val, max_epochs=s.max_epochs, patience=s.patience,
                                      device=s.device, gradient_clip=1.0))
        info.update({"train_rows": len(tr_idx), "val_rows": len(va_idx), "positives": self.n_pos_,
                     "prepare_s": round(t_prep, 2), "fit_s": round(time.perf_counter() - t0, 2), **describe(s)})
        self.fit_info_ = info
        return self

    def predict_proba(self, frame: pd.DataFrame, *, covariates: list[str], cutoff: pd.Timestamp,
                      context: GraphText | None = None) -> pd.Series:
        """Probability per item at its last week up to `cutoff`."""
        import torch

        from training.models.torch_common import torch_run

        frame = frame[frame[DS] <= cutoff].sort_values([ID, DS], kind="stable").reset_index(drop=True)
        last = frame.groupby(ID, sort=True).tail(1).index.to_numpy()
        ids = frame.loc[last, ID].to_numpy()
        if self.net_ is None:
            return pd.Series(self.prior_, index=ids, name="score")
        ctx = self._context(context, cutoff)
        t = self._tables(frame)
        inp = self._inputs(frame, t, last, ctx)
        if self.settings.use_text:
            self._encode_text(inp)
        probs = []
        with torch_run(self.settings.n_threads, self.settings.seed), torch.no_grad():
            self.net_.eval()
            for a in range(0, len(last), 2048):
                b = self._batch(t, inp, np.arange(a, min(a + 2048, len(last))), None)
                probs.append(torch.sigmoid(self.net_(b)["hot"]).numpy().astype("float64"))
        return pd.Series(np.concatenate(probs), index=ids, name="score")
