"""Accuracy suite: one DarkHorse configuration backtested on several real weekly panels.

    python benchmarks/bench_accuracy.py --m4 path/to/m4                  # every panel, defaults
    python benchmarks/bench_accuracy.py --quick --panels weekly_sales     # a quick subset
    python benchmarks/bench_accuracy.py --config my.yaml --models naive,seasonal_naive,xgboost
    python benchmarks/bench_accuracy.py --panel-file sales.csv --panel-columns sku,week,units   # your own panel

Panels (`benchmarks.accuracy.panels`): the shipped Online Retail (published panel; run
`darkhorse build` first), M4 Weekly (`--m4 FOLDER`, skipped without it), the weekly-sales
example and seasonal synthetic reviews; or a weekly panel of your own, one file of series id,
date and quantity rows (`--panel-file PATH`, `benchmarks.accuracy.panel_file`). Beside the
configuration, the tools a user would pick instead (`--peers`: mlforecast's LightGBM on lags,
the same on differences, statsforecast's AutoETS) are fitted at the same evaluation origins
and scored on the same rows (`benchmarks.accuracy.peers`). The forecast, backtest, blend and
hot-seller settings come from `--config` (default: the repository's darkhorse.yaml), the panel
settings (horizon, lookback, label quantile) from each panel (a panel file's from `--config`).
A panel that cannot be read or backtested is skipped with its reason while the others run, and
the exit status is then 1. Prints one table per panel and a rank summary, and
writes `OUT/accuracy.json`, `OUT/accuracy.html`, `OUT/accuracy.txt` and per-panel forecasts
under `OUT/panels/` (default OUT: data/bench/accuracy).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy import panel_file as PF  # noqa: E402
from benchmarks.accuracy import panels as P  # noqa: E402
from benchmarks.accuracy import suite  # noqa: E402
from benchmarks.accuracy.peers import PEERS, PeerError, parse_peers  # noqa: E402
from darkhorse.core.config import Config, load_config  # noqa: E402
from darkhorse.core.errors import DarkHorseError  # noqa: E402

log = logging.getLogger("bench_accuracy")

QUICK_SERIES = 150


def add_panel_file_args(ap: argparse.ArgumentParser) -> None:
    """The options that read a panel of your own (`--panel-file` and its columns, known columns and
    date format); the suite's tools that read a run's panels again take them as the run did."""
    ap.add_argument("--panel-file", type=Path, action="append", default=[], metavar="PATH",
                    help="a weekly panel of your own (CSV, .csv.gz, Parquet or a workbook such as .xlsx: series id, date, quantity per row), scored like "
                         "the suite's panels under the file's name, with the panel settings of --config; repeatable")
    ap.add_argument("--panel-known", default=None, metavar="COL[:AGG],...",
                    help="--panel-file columns known ahead (price, promotion, holiday flags), each with its weekly aggregate "
                         f"({', '.join(PF.KNOWN_AGGS)}; default mean): the members that read known-future covariates use them")
    ap.add_argument("--panel-date-format", default=None, metavar="FMT",
                    help="strptime format of the --panel-file dates, e.g. %%d/%%m/%%Y (default: ISO 8601)")
    ap.add_argument("--panel-granularity", choices=PF.GRANULARITIES, default="weekly",
                    help="weekly: every --panel-file row is a complete week, whatever day dates it (default); daily: rows "
                         "are days, and the file's first and last week are left out where its dates cover them only in part")
    ap.add_argument("--panel-columns", default=",".join(PF.DEFAULT_COLUMNS), metavar="ID,DATE,QUANTITY",
                    help=f"the --panel-file columns holding the series id, the date and the quantity (default: {','.join(PF.DEFAULT_COLUMNS)}); "
                         "with --panel-wide the id column(s) only")
    ap.add_argument("--panel-decimal", default=".", choices=PF.DECIMAL_SEPARATORS,
                    help="the decimal separator of --panel-file numbers written as text (default '.'; ',' reads 12,5)")
    ap.add_argument("--panel-thousands", default=None, metavar="CHAR", choices=PF.THOUSANDS_SEPARATORS,
                    help="the digit-grouping character of --panel-file numbers written as text, dropped ('.' reads 1.234,5 "
                         "with --panel-decimal ','; default none)")
    ap.add_argument("--panel-encoding", default="utf-8", choices=PF.ENCODINGS,
                    help="the text encoding of a --panel-file CSV (default utf-8; latin-1 for ISO-8859-1 exports)")
    ap.add_argument("--panel-sheet", default=None, metavar="NAME",
                    help="the sheet of a --panel-file workbook to read (default: its first sheet holding a cell)")
    ap.add_argument("--panel-wide", default=None, metavar="GLOB",
                    help="the --panel-file is wide: one row per series and one column per period, the columns this glob "
                         "matches (W*, d_*), read as a wide sales source of the build is (README, `wide`)")
    ap.add_argument("--panel-first-date", default=None, metavar="YYYY-MM-DD",
                    help="with --panel-wide: the date of the period column with the smallest last number (W0, d_1); "
                         "without it each period column's name is its date")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml",
                    help="config whose forecast/backtest/blend/hot_sellers settings are tested (default: darkhorse.yaml)")
    ap.add_argument("--panels", default=None, help=f"comma-separated subset of {','.join(P.PANELS)} (default: all of them, or none when "
                         f"--panel-file is given), the opt-in {','.join(P.OPT_IN_PANELS)}, or none")
    add_panel_file_args(ap)
    ap.add_argument("--models", default=None, help="comma-separated member names to keep (default: every enabled member)")
    ap.add_argument("--m4", type=Path, default=None, help="folder holding M4 Weekly-train.csv / Weekly-test.csv")
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_SERIES} series per panel, 2 eval + 1 warm-up windows: for iteration, not for figures")
    ap.add_argument("--max-series", type=int, default=None, help="sample this many series per panel (seed 0)")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "bench" / "accuracy", help="output folder")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    ap.add_argument("--no-hot-sellers", action="store_true",
                    help="forecasts and blend only (a member run on its own for `accuracy.replay --add`); "
                         "the hot-seller table then holds the suite's growth scorers only")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"the tools a user would pick instead, scored at the evaluation origins: comma-separated subset of "
                         f"{','.join(PEERS)} (default: all), or none")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: make the tables and page from OUT/panels/*/result.json of earlier runs")
    ap.add_argument("--stored", type=Path, action="append", default=[], metavar="RUN",
                    help="with --report-only: read the panels' result.json from these earlier runs' output folders "
                         "instead of OUT (repeatable; a panel stored in several is read from the first)")
    return ap.parse_args(argv)


def suite_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    if args.quick:
        cfg = cfg.model_copy(update={"backtest": cfg.backtest.model_copy(update={"n_windows": 2, "warmup_windows": 1})})
    return cfg


def select_specs(cfg: Config, models: str | None) -> list:
    specs = cfg.forecast.enabled()
    if not models:
        return specs
    want = [m.strip() for m in models.split(",") if m.strip()]
    names = [s.name for s in specs]
    unknown = [m for m in want if m not in names]
    if unknown:
        raise SystemExit(f"--models: {unknown} not among the enabled members of {cfg.path}: {names}")
    return [s for s in specs if s.name in want]


def panel_names(spec: str | None, with_files: bool) -> list[str]:
    """The suite panels `--panels` names: every default panel when not given, none when not
    given beside `--panel-file` or given as `none`."""
    if spec is None:
        return [] if with_files else list(P.PANELS)
    names = [x.strip() for x in spec.split(",") if x.strip()]
    return [] if names == ["none"] else names


def panel_files(args: argparse.Namespace, taken: set[str], cfg: Config) -> dict:
    """Panel name -> loader of each `--panel-file` (`add_panel_file_args`; read when its turn
    comes; names and columns checked before anything runs)."""
    paths, date_format = args.panel_file, args.panel_date_format
    wide = PF.parse_wide(args.panel_wide, args.panel_first_date)
    cols = PF.parse_columns(args.panel_columns, wide=wide is not None)
    kf = PF.parse_known(args.panel_known, cols)
    if (kf or date_format or wide or args.panel_sheet or args.panel_decimal != "." or args.panel_thousands
            or args.panel_encoding != "utf-8") and not paths:
        raise PF.PanelFileError("--panel-known, --panel-date-format, --panel-wide, --panel-sheet, --panel-decimal, "
                                "--panel-thousands and --panel-encoding need --panel-file")
    out = {}
    for path in paths:
        PF.check_path(path)
        name = PF.panel_name(path, taken | set(out))
        out[name] = functools.partial(PF.read_panel_file, path, cfg.panel, columns=cols, name=name, known=kf,
                                      date_format=date_format, max_set_aside=cfg.gate.max_quarantined_share,
                                      granularity=args.panel_granularity, wide=wide, sheet=args.panel_sheet,
                                      decimal=args.panel_decimal, thousands=args.panel_thousands,
                                      encoding=args.panel_encoding)
    return out


def load_panel(name: str, m4: Path | None, cache: Path, files: dict | None = None) -> P.Panel | None:
    """Panel `name`: a `--panel-file` panel from its loader in `files` (`panel_files`), M4 Weekly
    from the folder `m4` (None: skipped), the synthetic panel cached under `cache`."""
    if files and name in files:
        return files[name]()
    if name == "online_retail":
        return P.online_retail()
    if name == "m4_weekly":
        if m4 is None:
            log.warning("m4_weekly skipped: no --m4 folder given")
            return None
        return P.m4_weekly(m4)
    if name == "m4_weekly_earlier":
        if m4 is None:
            raise SystemExit("--panels m4_weekly_earlier needs --m4 FOLDER")
        return P.m4_weekly_earlier(m4)
    if name == "weekly_sales":
        return P.weekly_sales()
    if name == "online_retail_regions":
        return P.online_retail_regions()
    if name == "synthetic_reviews":
        return P.synthetic_reviews(cache)
    if name == "synthetic_sparse":
        return P.synthetic_sparse(cache)
    if name == "synthetic_long_sparse":
        return P.synthetic_long_sparse(cache)
    if name == "synthetic_store_departments":
        return P.synthetic_store_departments()
    raise SystemExit(f"--panels: unknown panel {name!r}; choose from {', '.join(P.PANELS + P.OPT_IN_PANELS)}")


def shrink(panel: P.Panel, n: int | None) -> P.Panel:
    ids = P.sample_ids(panel.history, n)
    if ids is None:
        return panel
    extra = dict(panel.extra)
    if "m4" in extra:
        from benchmarks.accuracy.m4 import subset

        extra["m4"] = subset(extra["m4"], ids)
    return P.Panel(panel.name, P.restrict(panel.history, ids), panel.panel, panel.description + f" (sample of {n})", extra)


def stored_result(runs: list[Path], name: str) -> Path:
    """Panel `name`'s result.json in the first of `runs` that holds it (the first run's path when none does)."""
    paths = [run / "panels" / name / "result.json" for run in runs]
    return next((f for f in paths if f.is_file()), paths[0])


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    if args.stored and not args.report_only:
        raise SystemExit("--stored reads earlier runs: it needs --report-only")
    cfg = suite_config(args)
    specs = select_specs(cfg, args.models)
    try:
        peers = parse_peers(args.peers)
    except PeerError as e:
        raise SystemExit(str(e)) from None
    n = args.max_series or (QUICK_SERIES if args.quick else None)
    names = panel_names(args.panels, bool(args.panel_file))
    try:
        files = panel_files(args, set(P.PANELS + P.OPT_IN_PANELS), cfg)
    except PF.PanelFileError as e:
        raise SystemExit(str(e)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    results, failed = [], []
    for name in names + list(files):
        if args.report_only:
            f = stored_result(args.stored or [args.out], name)
            if f.is_file():
                results.append(json.loads(f.read_text()))
            else:
                log.warning("%s: no %s", name, f)
            continue
        try:
            panel = load_panel(name, args.m4, args.out / "cache", files)
            if panel is None:
                continue
            results.append(suite.run_panel(shrink(panel, n), cfg, specs, out=args.out, show_progress=not args.no_progress,
                                           with_hot_sellers=not args.no_hot_sellers, peers=peers))
        except DarkHorseError as e:
            # one panel's bad data or too short a history: the others still run and are reported
            log.error("%s skipped: %s", name, e)
            failed.append(name)
    if not results:
        log.error("no panel ran")
        return 1
    summary = suite.rank_summary(results)
    meta = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_accuracy.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "config": str(args.config), "config_hash": cfg.config_hash(), "commit": git_commit(),
        "members": [s.model_dump(mode="json") for s in specs],
        "backtest": cfg.backtest.model_dump(mode="json"), "blend": cfg.blend.model_dump(mode="json"),
        "hot_sellers": cfg.hot_sellers.model_dump(mode="json"),
        "peers": peers, "quick": args.quick, "max_series": n, "cpus": os.cpu_count(), "python": platform.python_version(),
        "wall_s": round(time.perf_counter() - t0, 1), "load_avg_1m": [load_before, os.getloadavg()[0]],
        "report_only": args.report_only, "stored": [str(r) for r in args.stored],
    }
    console = suite.render(results, summary)
    (args.out / "accuracy.txt").write_text(console.export_text(clear=False))
    (args.out / "accuracy.json").write_text(json.dumps(suite.jsonable({"meta": meta, "panels": results, "rank_summary": summary}), indent=2))
    suite.write_page(args.out / "accuracy.html", console, results, meta)
    log.info("suite done in %.0f s: %s", meta["wall_s"], args.out / "accuracy.html")
    if failed:
        log.error("skipped: %s (reasons above)", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
