"""A self-contained HTML report of one backtest run.

`write_report(out_dir)` reads what a backtest leaves in `out_dir` (`run.py`), draws its plots
(`plots.py`, matplotlib), writes them as PNGs into `out_dir/plots/` and renders
`out_dir/report.html` through the Jinja2 template `templates/report.html.j2` (`render.py`),
with the images embedded as base64 data URIs so the page can be moved or mailed on its own.
What the plots and tables derive from the run (rankings, sampled items, per-series sMAPE with
`training.metrics.smape`) lives in `analysis.py`.

Sections: run (metadata and windows), how to read the metrics, forecast metrics (best value
of each column in bold), hot-seller metrics, timings, plots. A section or plot whose input is
missing says "not available" and why. Models whose importances are variable-selection weights
(the TFT: `static:<var>`, `encoder:<var>`, `decoder:<var>`) get their own plot
(`plots/variable_importance.png`), written only when such rows exist.
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.report import plots as draw
from training.report.plots import PLOT_FILES, PLOTS, VARIABLE_PLOT
from training.report.render import PlotView, render
from training.report.run import load_run

log = logging.getLogger(__name__)


def write_report(
    out_dir: str | Path, *, title: str = "DarkHorse backtest", sample_items: int = 6
) -> Path:
    """Write `out_dir/report.html` (and PNGs in `out_dir/plots/`) for one backtest; return its path.

    `forecasts.parquet` and `metrics.json` must exist; every other input is optional and its
    section says "not available" when the file is missing. `sample_items` is the number of
    items drawn in the forecast-vs-actual plot.
    """
    out = Path(out_dir)
    run = load_run(out)
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    for filename, _ in PLOTS.values():  # no stale image from an earlier run
        (plots_dir / filename).unlink(missing_ok=True)

    views = []
    for key, drawing in draw.planned(run, sample_items):
        filename, heading = PLOTS[key]
        try:
            fig, caption = drawing()
        except draw.Unavailable as why:
            views.append(PlotView(key, heading, filename, missing=str(why)))
            continue
        except Exception as exc:  # one broken plot must not sink the whole report
            log.warning("report plot %s failed", key, exc_info=True)
            views.append(PlotView(key, heading, filename, missing=f"plot failed: {type(exc).__name__}: {exc}"))
            continue
        png = draw.png(fig)
        (plots_dir / filename).write_bytes(png)
        views.append(PlotView(key, heading, filename, caption=caption, png=png))

    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(run, title, views), encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["PLOT_FILES", "VARIABLE_PLOT", "write_report"]
