"""The backtest report: plots written, images embedded, tables correct, missing inputs tolerated."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.blend.point import POINT_CHECKS
from training.report import PLOT_FILES, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODELS = ["naive", "seasonal_naive", "statquant", "xgboost", "blend"]
N_SERIES, HORIZON = 30, 12
CUTOFFS = [pd.Timestamp("2011-03-07"), pd.Timestamp("2011-05-30"), pd.Timestamp("2011-08-22")]
ROLES = ["warmup", "eval", "eval"]
# xgboost has the lowest MASE, so the best model is not simply the blend
MASE = {"naive": 1.31, "seasonal_naive": 1.12, "statquant": 0.981, "xgboost": 0.874, "blend": 0.902}


def make_outputs(out: Path, seed: int = 0) -> Path:
    """Backtest outputs shaped like the real ones: 30 series, 3 cutoffs, 12-week horizon."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = [f"item_{i:03d}" for i in range(N_SERIES)]
    weeks = pd.date_range("2010-06-07", CUTOFFS[-1] + pd.Timedelta(weeks=HORIZON), freq="W-MON")
    level = rng.lognormal(mean=3.0, sigma=1.0, size=N_SERIES)
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(len(weeks)) / 52)
    actual = {
        uid: pd.Series(level[i] * season * rng.gamma(5.0, 0.2, len(weeks)), index=weeks)
        for i, uid in enumerate(ids)
    }
    rows = []
    for cutoff, role in zip(CUTOFFS, ROLES, strict=True):
        future = pd.date_range(cutoff + pd.Timedelta(weeks=1), periods=HORIZON, freq="W-MON")
        for uid in ids:
            y = actual[uid].loc[future].to_numpy()
            frame = {"unique_id": uid, "ds": future, "cutoff": cutoff, "window": role, "y": y}
            for m in MODELS:
                point = np.maximum(y * rng.normal(1.0, 0.25 * MASE[m], HORIZON), 0.1)
                spread = np.abs(rng.normal(0.35, 0.05, HORIZON)) * point
                frame[m] = point
                frame[f"{m}-q10"] = np.maximum(point - spread, 0.0)
                frame[f"{m}-q50"] = point
                frame[f"{m}-q90"] = point + spread
            rows.append(pd.DataFrame(frame))
    fc = pd.concat(rows, ignore_index=True)
    fc.to_parquet(out / "forecasts.parquet", index=False)

    ev = fc[fc["window"] == "eval"]
    sm = []
    for m in MODELS:
        err = (ev["y"] - ev[m]).abs()
        smape = 200 * err / (ev["y"].abs() + ev[m].abs())
        g = pd.DataFrame(
            {"unique_id": ev["unique_id"], "cutoff": ev["cutoff"], "e": err, "s": smape}
        ).groupby(["unique_id", "cutoff"])
        per = g.agg(mae=("e", "mean"), smape=("s", "mean")).reset_index()
        per["model"] = m
        per["mase"] = per["mae"] / per["mae"].mean() * MASE[m]
        per["scaled_pinball"] = per["mase"] * 0.4
        per["coverage_80"] = rng.uniform(0.6, 0.95, len(per))
        sm.append(per)
    pd.concat(sm, ignore_index=True)[
        ["unique_id", "cutoff", "model", "smape", "mase", "mae", "scaled_pinball", "coverage_80"]
    ].to_parquet(out / "series_metrics.parquet", index=False)

    hs = []
    for cutoff in CUTOFFS[1:]:
        label = (rng.uniform(size=N_SERIES) < 0.15).astype(float)
        label[-3:] = np.nan  # future not known yet
        for scorer, signal in [
            ("momentum", 0.5),
            ("forecast_growth", 1.0),
            ("classifier", 1.5),
            ("final", 2.0),
        ]:
            score = signal * np.nan_to_num(label) + rng.normal(0, 1, N_SERIES)
            hs.append(
                pd.DataFrame(
                    {
                        "unique_id": ids,
                        "cutoff": cutoff,
                        "model": scorer,
                        "score": score,
                        "label": label,
                    }
                )
            )
    pd.concat(hs, ignore_index=True).to_parquet(out / "hot_sellers.parquet", index=False)

    features = [f"lag_{k}" for k in range(1, 27)] + ["week_of_year", "price", "reviews_4w"]
    fi = [
        pd.DataFrame(
            {"model": model, "feature": features, "importance": rng.exponential(1.0, len(features))}
        )
        for model in ("xgboost", "classifier")
    ]
    pd.concat(fi, ignore_index=True).to_parquet(out / "feature_importance.parquet", index=False)

    parts = ["naive", "seasonal_naive", "statquant", "xgboost"]
    w = rng.dirichlet(np.ones(len(parts)), size=N_SERIES)
    bw = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, len(parts)),
            "model": parts * N_SERIES,
            "weight": w.ravel(),
            "source": "series",
        }
    )
    glob = pd.DataFrame(
        {
            "unique_id": "__global__",
            "model": parts,
            "weight": [0.1, 0.2, 0.3, 0.4],
            "source": "global",
        }
    )
    pd.concat([bw, glob], ignore_index=True).to_parquet(out / "blend_weights.parquet", index=False)

    metrics = {
        "models": {
            m: {
                "smape": 30.0 * MASE[m],
                "mae": 12.5 * MASE[m],
                "rmse": 19.25 * MASE[m],
                "mase": MASE[m],
                "wape": 0.28 * MASE[m],
                "scaled_pinball": 0.4 * MASE[m],
                "coverage_80": 0.8 - (MASE[m] - 1) / 4,
                "n_series": N_SERIES,
            }
            for m in MODELS
        },
        "ratios_vs": {
            "seasonal_naive": {
                m: {
                    "mase": MASE[m] / MASE["seasonal_naive"],
                    "scaled_pinball": MASE[m] / MASE["seasonal_naive"],
                }
                for m in MODELS
            }
        },
        "hot_sellers": {
            s: {
                "average_precision": ap,
                "precision_at_top": ap * 0.9,
                "recall_at_top": ap * 0.8,
                "lift_vs_momentum": ap / 0.21,
                "brier": None if s == "momentum" else 0.11,
                "n": 54,
                "positives": 9,
            }
            for s, ap in [
                ("momentum", 0.21),
                ("forecast_growth", 0.33),
                ("classifier", 0.41),
                ("final", 0.47),
            ]
        },
        "decisions": {
            "scenarios": [
                {"model": m, "period": 4, "method": meth, "capacity": 1.0, "cost_ratio": 4.0,
                 "regret_per_unit": r}
                for m, meth, r in [("blend", "sum", 1.464), ("blend", "paths", 1.459), ("naive", "sum", 1.841)]
            ],
            "coverage": [{"model": "blend", "period": 4, "method": "paths", "below": {"0.5": 0.52, "0.9": 0.88},
                          "interval_80": 0.79, "interval_98": 0.95}],
        },
        "windows": [
            {"cutoff": f"{c:%Y-%m-%d}", "role": r} for c, r in zip(CUTOFFS, ROLES, strict=True)
        ],
        "config_hash": "cfg-3f9a1c",
        "data_snapshot": "snap-20110822",
        "created_at": "2024-05-01T12:00:00Z",
        "timings_s": {m: 1.5 + i for i, m in enumerate(MODELS)},
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_outputs(tmp_path_factory.mktemp("backtest"))


def copy_outputs(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.suffix in {".parquet", ".json"}:
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


class Page(HTMLParser):
    """The report page as data: h2 headings, table rows (header cell, then data cells, each
    as (text, bold)), images, and the text of the "not available" notes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: dict[str, list[tuple[str, bool]]] = {}
        self.images: list[tuple[str, bytes]] = []
        self.notes: list[str] = []
        self._text: list[str] | None = None
        self._tag = ""
        self._bold = False
        self._row: list[tuple[str, bool]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h2", "th", "td") or (tag == "p" and a.get("class") == "na"):
            self._text, self._tag, self._bold = [], tag, False
        elif tag == "b":
            self._bold = True
        elif tag == "tr":
            self._row = []
        elif tag == "img":
            self.images.append((a["alt"], base64.b64decode(a["src"].split(",", 1)[1])))

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._text is not None and tag == self._tag:
            text = "".join(self._text).strip()
            if tag == "h2":
                self.headings.append(text)
            elif tag == "p":
                self.notes.append(text)
            else:
                self._row.append((text, self._bold))
            self._text = None
        elif tag == "tr" and self._row:
            self.rows.setdefault(self._row[0][0], self._row)


def row_of(page: Page, name: str) -> list[tuple[str, bool]]:
    """The (text, bold) cells of the table row whose header cell is `name`, header first."""
    assert name in page.rows, f"no table row for {name}"
    return page.rows[name]


def cells(row: list[tuple[str, bool]]) -> list[str]:
    """The data cells of a row as the page shows them, bold as <b>...</b>."""
    return [f"<b>{t}</b>" if bold else t for t, bold in row[1:]]


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path


SECTIONS = ["Run", "How to read this", "Forecast metrics", "Hot-seller metrics", "Timings", "Decisions", "Plots"]
FORECAST_HEADERS = [
    "Model", "sMAPE", "MAE", "RMSE", "MASE", "WAPE", "Scaled pinball", "Coverage 80%", "Series",
    "MASE / seasonal naive", "Pinball / seasonal naive",
]


def test_full_report(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    path = write_report(out, title="Backtest <nightly> & co")
    assert path == out / "report.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    page = Page(html)

    assert "<title>Backtest &lt;nightly&gt; &amp; co</title>" in html and "<nightly>" not in html
    assert page.headings == SECTIONS
    assert [t for t, _ in row_of(page, "Model")] == FORECAST_HEADERS
    for m in MODELS:  # one forecast-metrics row per model, every column filled
        assert len(cells(row_of(page, m))) == len(FORECAST_HEADERS) - 1
        assert "–" not in cells(row_of(page, m))
    assert cells(row_of(page, "naive"))[8] == "1.17"  # MASE ratio vs seasonal naive: 1.31 / 1.12
    for scorer in ("momentum", "forecast_growth", "classifier", "final"):
        assert len(cells(row_of(page, scorer))) == 7
    assert [t for t, _ in row_of(page, "2011-08-22")] == ["2011-08-22", "eval"]
    for text in ("cfg-3f9a1c", "snap-20110822", "<dt>Horizon (weeks)</dt><dd>12</dd>"):
        assert text in html
    # the decision replay: one row per (capacity, cost ratio), sum then paths per model
    assert [t for t, _ in row_of(page, "100%")] == ["100%", "4", "1.464 → 1.459", "1.841"]
    assert "".join(f'<td class="num">{v}</td>' for v in ("paths", "0.52", "0.88", "0.79", "0.95")) in html

    # every plot written, and embedded as the very same PNG bytes
    assert [alt for alt, _ in page.images] == [
        "Forecast vs actual", "Residuals", "sMAPE per series", "Feature importance",
        "Hot sellers: precision at k", "Blend weights",
    ]
    for (_, data), name in zip(page.images, PLOT_FILES.values(), strict=True):
        assert_png(out / "plots" / name)
        assert data == (out / "plots" / name).read_bytes()
    assert page.notes == []
    assert "http://" not in html and "https://" not in html and "<script" not in html

    # best MASE (xgboost) in bold: its name and its MASE cell; other MASE cells are not
    best = row_of(page, "xgboost")
    assert best[0] == ("xgboost", True)
    mase_col = 3  # smape, mae, rmse, mase, ...
    assert cells(best)[mase_col] == "<b>0.874</b>"
    assert cells(row_of(page, "blend"))[mase_col] == "0.902"
    assert [name for name, rows in page.rows.items() if rows[0][1]] == ["xgboost"]
    # coverage: closest to 0.80 wins (statquant, 0.8048), not the largest
    coverage_col = 6
    assert cells(row_of(page, "statquant"))[coverage_col] == "<b>0.8048</b>"
    # hot sellers: a null Brier is a dash, the highest average precision is bold
    assert cells(row_of(page, "momentum"))[4] == "–"
    assert cells(row_of(page, "final"))[0] == "<b>0.47</b>"
    # Brier only for probabilities: the final ranking's 0.11 in metrics.json is not shown
    assert cells(row_of(page, "final"))[4] == "–"
    assert cells(row_of(page, "forecast_growth"))[4] == "–"
    assert cells(row_of(page, "classifier"))[4] in ("0.11", "<b>0.11</b>")


def test_missing_optional_files(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    # a stale plot from an earlier run must not survive
    (out / "plots").mkdir()
    (out / "plots" / PLOT_FILES["hot"]).write_bytes(PNG_MAGIC + b"old")
    (out / "hot_sellers.parquet").unlink()
    (out / "feature_importance.parquet").unlink()

    page = Page(write_report(out).read_text(encoding="utf-8"))

    assert page.headings == SECTIONS
    assert page.notes == [
        "Feature importance not available: feature_importance.parquet is missing.",
        "Hot sellers: precision at k not available: hot_sellers.parquet is missing.",
    ]
    assert not (out / "plots" / PLOT_FILES["hot"]).exists()
    assert not (out / "plots" / PLOT_FILES["importance"]).exists()
    shown = ("forecast", "residuals", "smape", "weights")
    for key in shown:
        assert_png(out / "plots" / PLOT_FILES[key])
    assert [data for _, data in page.images] == [(out / "plots" / PLOT_FILES[k]).read_bytes() for k in shown]
    for m in MODELS:
        assert len(cells(row_of(page, m))) == len(FORECAST_HEADERS) - 1


def test_null_metric_renders_dash(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["models"]["statquant"]["mase"] = None
    metrics["models"]["naive"]["rmse"] = None
    metrics["ratios_vs"]["seasonal_naive"]["statquant"]["mase"] = None
    (out / "metrics.json").write_text(json.dumps(metrics))

    page = Page(write_report(out).read_text(encoding="utf-8"))

    statquant = cells(row_of(page, "statquant"))
    assert statquant[3] == "–" and statquant[8] == "–"
    assert statquant[5] == "0.3924"  # its other values stay
    assert cells(row_of(page, "naive"))[2] == "–"


def test_only_required_inputs(outputs: Path, tmp_path: Path) -> None:
    """Bare forecasts and a sparse metrics.json: no blend, no optional files, no metadata."""
    out = tmp_path / "run"
    out.mkdir()
    fc = pd.read_parquet(outputs / "forecasts.parquet")
    fc = fc.drop(columns=[c for c in fc.columns if c.startswith("blend")])
    fc.to_parquet(out / "forecasts.parquet", index=False)
    (out / "metrics.json").write_text(json.dumps({"models": {"naive": {"mase": 1.2}}}))

    html = write_report(out, sample_items=3).read_text(encoding="utf-8")
    page = Page(html)

    for key in ("forecast", "residuals", "smape"):
        assert_png(out / "plots" / PLOT_FILES[key])
    for key in ("importance", "hot", "weights"):
        assert not (out / "plots" / PLOT_FILES[key]).exists()
    assert page.headings == SECTIONS
    assert page.notes == [
        "Window list not available in metrics.json.",
        "Hot-seller metrics not available in metrics.json.",
        "Timings not available in metrics.json.",
        "Decision replay not available in metrics.json.",
        "Feature importance not available: feature_importance.parquet is missing.",
        "Hot sellers: precision at k not available: hot_sellers.parquet is missing.",
        "Blend weights not available: blend_weights.parquet is missing.",
    ]
    assert "forecasts.parquet (series_metrics.parquet not available)" in html
    # no blend: the forecast plot features the model with the lowest MASE in metrics.json
    assert "and the naive forecast with its q10–q90 band" in html
    assert cells(row_of(page, "naive"))[3] == "1.2"
    for m in ("seasonal_naive", "statquant", "xgboost"):  # in forecasts, not in metrics.json
        assert set(cells(row_of(page, m))) == {"–"}


def test_timings_show_each_members_worth_to_the_blend(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    page = Page(write_report(out).read_text(encoding="utf-8"))
    assert [t for t, _ in row_of(page, "Model / step")] == ["Model / step", "Seconds", "Share"]
    assert "makes the blend better" not in (out / "report.html").read_text(encoding="utf-8")

    metrics = json.loads((out / "metrics.json").read_text())
    metrics["contributions"] = {
        "xgboost": {"mase_without": 0.951, "delta": 0.049, "seconds": 2.5},
        "naive": {"mase_without": 0.899, "delta": -0.003, "seconds": 1.5},
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    page = Page(html)

    assert [t for t, _ in row_of(page, "Model / step")] == [
        "Model / step", "Seconds", "Share", "Blend MASE without it", "Change in blend MASE",
    ]
    # timings rows come after the forecast table's rows of the same names: read them by section
    timings = html.split("<h2>Timings</h2>", 1)[1].split("<h2>", 1)[0]
    rows = Page(timings).rows
    assert cells(rows["xgboost"]) == ["4.5", "25.7%", "0.951", "0.049"]  # 4.5 of 17.5 s
    assert cells(rows["naive"]) == ["1.5", "8.6%", "0.899", "-0.003"]
    assert cells(rows["blend"])[2:] == ["–", "–"]
    assert "positive change means the member makes the blend better" in timings


def test_the_forecast_note_says_whether_the_blend_beat_its_best_member(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    for diff, se, verdict in ((0.004, 0.003, "a tie"), (-0.02, 0.005, "better"), (0.02, 0.005, "worse")):
        metrics["blend_vs_best"] = {"best": "xgboost", "diff": diff, "se": se, "pct": 100 * diff / 1.9, "n_series": 298}
        (out / "metrics.json").write_text(json.dumps(metrics))
        html = write_report(out).read_text(encoding="utf-8")
        assert f"Blend minus its best member (xgboost) in MASE: {diff:g} ± {se:g}" in html
        assert f"over 298 series, {100 * diff / 1.9:.4g}%): {verdict}." in html
    metrics.pop("blend_vs_best")
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert "Blend minus its best member" not in write_report(out).read_text(encoding="utf-8")


def test_the_forecast_note_says_where_the_blends_quantiles_came_from(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    evals = [w["cutoff"] for w in metrics["windows"] if w["role"] == "eval"]
    others = [w["cutoff"] for w in metrics["windows"] if w["role"] != "eval"]
    assert evals and others
    metrics["blend_choice"] = [
        {"cutoff": others[0], "choice": "inf", "intervals": "members"},  # not an evaluation origin: not counted
        *({"cutoff": c, "choice": "inf", "intervals": "levels" if i else "conformal",
           "interval_loss": {"conformal": 0.31, "members": 0.3, "levels": 0.25}} for i, c in enumerate(evals)),
    ]
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    want = ("came from: conformal at 1, levels at 1 of 2 evaluation origins" if len(evals) == 2
            else f"came from: conformal at 1, levels at {len(evals) - 1} of {len(evals)} evaluation origins")
    assert want in html
    assert "held-out loss at the last: conformal 0.31, members 0.3, levels 0.25." in html
    metrics.pop("blend_choice")
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert "quantiles (chosen on held-out pinball loss)" not in write_report(out).read_text(encoding="utf-8")


def test_the_forecast_note_says_when_the_blends_point_took_a_factor(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    evals = [w["cutoff"] for w in metrics["windows"] if w["role"] == "eval"]
    others = [w["cutoff"] for w in metrics["windows"] if w["role"] != "eval"]
    metrics["blend_choice"] = [
        {"cutoff": others[0], "choice": "inf", "point_factor": 0.9},  # not an evaluation origin: not counted
        *({"cutoff": c, "choice": "inf", "point_factor": 0.7 if i else 1.0} for i, c in enumerate(evals)),
    ]
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert (f"point forecast took a factor (checked on the latest {POINT_CHECKS} held-out origins) of 0.7 at {len(evals) - 1} "
            f"of {len(evals)} evaluation origins; its quantiles are not scaled.") in html
    metrics["blend_choice"] = [{"cutoff": c, "choice": "inf", "point_factor": 1.0} for c in evals]
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert "point forecast took a factor" not in html and "the median of its members" not in html
    # an origin without an earlier one to learn from (a short panel's first window) says so
    metrics["blend_choice"][0]["choice"] = "median"
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert (f"At 1 of {len(evals)} evaluation origins no earlier origin was there to learn the blend weights "
            "from: there the blend is the median of its members, row by row.") in write_report(out).read_text(encoding="utf-8")


def test_the_forecast_note_says_when_a_member_fell_back_to_its_baseline(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    evals = [w["cutoff"] for w in metrics["windows"] if w["role"] == "eval"]
    others = [w["cutoff"] for w in metrics["windows"] if w["role"] != "eval"]
    fell = {"fallback": "moving_average", "reason": "only 45 training rows for horizon 12"}
    metrics["model_info"] = {
        "xgboost": {str(others[0])[:10]: fell, str(evals[0])[:10]: fell},  # one at an evaluation origin
        "theta": {str(evals[0])[:10]: {"n_fallback": 0}},  # per-series fallbacks are not this sentence
        "hot_sellers": {str(evals[0])[:10]: {"method": "fallback", "weights": {"classifier": 1.0}}},
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert (f"xgboost forecast every item by its moving_average fallback at 1 of {len(evals)} evaluation origins "
            "(only 45 training rows for horizon 12).") in html
    assert "theta forecast every item" not in html and "hot_sellers forecast every item" not in html
    metrics["model_info"] = {"xgboost": {str(others[0])[:10]: fell}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert "forecast every item by its" not in write_report(out).read_text(encoding="utf-8")


def test_the_hot_seller_note_says_how_the_final_ranking_combined_its_scorers(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    evals = [w["cutoff"] for w in metrics["windows"] if w["role"] == "eval"]
    others = [w["cutoff"] for w in metrics["windows"] if w["role"] != "eval"]
    tie = {"method": "tie", "weights": {"forecast_growth": 0.5, "classifier": 0.5}}
    metrics["model_info"] = {"hot_sellers": {
        str(others[0])[:10]: {"method": "fallback", "weights": {"classifier": 1.0}},  # not an evaluation origin
        str(evals[0])[:10]: {"method": "single", "weights": {"classifier": 1.0}},
        **{str(c)[:10]: tie for c in evals[1:]},
    }}
    metrics["release"] = {"hot_sellers": {"method": "stack", "weights": {"forecast_growth": 0.25, "classifier": 0.75}}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert (f"at the evaluation origins single (classifier) at 1, tie (0.5 classifier + 0.5 forecast_growth) at "
            f"{len(evals) - 1} of {len(evals)}; in the release stack (0.75 classifier + 0.25 forecast_growth).") in html
    assert "fallback (classifier)" not in html  # not an evaluation origin
    third = 1 / 3  # the season fallback's rank average, shown to three digits
    metrics["release"] = {"hot_sellers": {"method": "fallback", "weights": dict.fromkeys(
        ("classifier", "forecast_growth", "seasonal_growth"), third)}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert ("in the release fallback (0.333 classifier + 0.333 forecast_growth + 0.333 seasonal_growth)."
            in write_report(out).read_text(encoding="utf-8"))
    metrics.pop("model_info"), metrics.pop("release")
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert "How the final ranking combined its scorers" not in write_report(out).read_text(encoding="utf-8")


def test_smape_without_series_metrics_is_the_backtest_metric(outputs: Path, tmp_path: Path) -> None:
    """With no series_metrics.parquet, per-series sMAPE comes from forecasts.parquet through
    training.metrics.smape (the backtest's own metric); a week without an actual is no error."""
    from training.metrics import smape
    from training.report.analysis import series_smape
    from training.report.run import load_run

    out = copy_outputs(outputs, tmp_path / "run")
    (out / "series_metrics.parquet").unlink()
    fc = pd.read_parquet(out / "forecasts.parquet")
    fc.loc[fc.index[-5:], "y"] = np.nan  # weeks not yet known
    fc.to_parquet(out / "forecasts.parquet", index=False)

    data, source = series_smape(load_run(out))

    assert source.startswith("forecasts.parquet")
    ev = fc[fc["window"] == "eval"].dropna(subset=["y"])
    for m in MODELS:
        want = (
            ev.assign(s=smape(ev["y"].to_numpy(), ev[m].to_numpy()))
            .groupby(["unique_id", "cutoff"])["s"].mean()
        )
        np.testing.assert_allclose(np.sort(data[m]), np.sort(want.to_numpy()), rtol=1e-12)


def test_template_ships_with_the_package() -> None:
    """The page's template is package data: in the package and in pyproject's package-data."""
    import tomllib
    from fnmatch import fnmatch
    from importlib.resources import files

    template = files("training.report") / "templates" / "report.html.j2"
    assert template.is_file()
    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = list((root / "training" / "report" / "templates").iterdir())
    assert shipped and all(
        any(fnmatch(f"templates/{f.name}", pattern) for pattern in data.get("training.report", []))
        for f in shipped
    )


def test_required_inputs_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"forecasts\.parquet"):
        write_report(tmp_path)


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, training.report; print('matplotlib' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == "False"


def test_the_hot_seller_note_warns_when_the_table_rests_on_few_labels(outputs: Path, tmp_path: Path) -> None:
    out = copy_outputs(outputs, tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    final = metrics["hot_sellers"]["final"]
    # a small catalogue: 3 hot sellers among 9 item-weeks over 3 origins
    final.update({"positives": 3, "n": 9, "cutoffs": 3})
    metrics["hot_seller_fraction"] = 0.05
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert ("These figures rest on 3 hot sellers over 3 evaluation origins (1.0 per origin), 33% of the 9 "
            "item-weeks scored rather than the top 5%") in html
    # few hot sellers per origin in a large catalogue: the count alone
    final.update({"positives": 21, "n": 420, "cutoffs": 3})
    (out / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(out).read_text(encoding="utf-8")
    assert "These figures rest on 21 hot sellers over 3 evaluation origins (7.0 per origin): differences" in html
    # enough hot sellers, at the configured share: nothing said
    final.update({"positives": 60, "n": 1200, "cutoffs": 3})
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert "These figures rest on" not in write_report(out).read_text(encoding="utf-8")
