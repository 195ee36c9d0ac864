"""Score a suite run's hot sellers again with today's ranking metrics, nothing refitted.

    python -m benchmarks.accuracy.rescore --run data/bench/accuracy --out RESCORED --m4 path/to/m4
    python -m benchmarks.accuracy.rescore --run OUT --out RESCORED --panel-file sales.csv
    python benchmarks/bench_accuracy.py --report-only --stored RESCORED --panels ...   # the tables

For every panel stored under `RUN/panels` (`result.json`, `hot_sellers.parquet`,
`forecasts.parquet` and, where the run had peers, `peer_forecasts.parquet`), the hot-seller
table, the suite's growth scorers and the final ranking against its best input are computed
again from the stored scores and forecasts, as `suite.run_panel` computes them, and written with
copies of the stored files to `OUT/panels`. Forecast metrics are left as stored. Use it when the
way a ranking is scored changes (`training.metrics`); the panels are read again (the same
arguments as the run: `--m4`, `--panel-file`, `--max-series`) for their labels and the history the growth scorers
divide by.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from benchmarks.accuracy import panel_file as PF
from benchmarks.accuracy.panels import Panel
from benchmarks.accuracy.suite import eval_origins, hot_seller_table, jsonable
from benchmarks.bench_accuracy import (
    REPO,
    add_panel_file_args,
    git_commit,
    load_panel,
    panel_files,
    shrink,
)
from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF

log = logging.getLogger(__name__)

# what a stored panel must hold, and the score files copied beside the rescored result
NEEDED = ("result.json", "hot_sellers.parquet", "forecasts.parquet")
COPIED = ("hot_sellers.parquet", "forecasts.parquet", "peer_forecasts.parquet")


def rescore_panel(folder: Path, panel: Panel, out: Path) -> dict:
    """`folder`'s stored result with its hot-seller figures computed again; the files copied to `out`."""
    rec = json.loads((folder / "result.json").read_text())
    hot = pd.read_parquet(folder / "hot_sellers.parquet")
    forecasts = pd.read_parquet(folder / "forecasts.parquet")
    peer_path = folder / "peer_forecasts.parquet"
    peer_fc = pd.read_parquet(peer_path) if peer_path.is_file() else None
    for frame in (hot, forecasts, peer_fc):
        if frame is not None:
            frame[CUTOFF] = pd.to_datetime(frame[CUTOFF])
    peers = list(rec.get("peers") or {}) if peer_fc is not None else []
    table, added, final_vs = hot_seller_table(hot, forecasts, eval_origins(rec["windows"]), panel, peer_fc, peers)
    rec.update(hot_sellers=table, suite_scorers=added, final_vs_best=final_vs,
               rescored={"from": str(folder), "at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": git_commit()})
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (folder / name).is_file() and (folder / name).resolve() != (out / name).resolve():
            shutil.copy(folder / name, out / name)
    (out / "result.json").write_text(json.dumps(jsonable(rec), indent=2))
    return rec


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a suite run's output folder (RUN/panels/*)")
    ap.add_argument("--out", type=Path, required=True, help="where the rescored panels go (OUT/panels/*)")
    ap.add_argument("--panels", default=None, help="comma-separated subset (default: every stored panel)")
    ap.add_argument("--m4", type=Path, default=None, help="the M4 folder, for the M4 panels")
    ap.add_argument("--cache", type=Path, default=None, help="the synthetic panels' cache (default: RUN/cache)")
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml", help="the run's config (the panels' settings)")
    ap.add_argument("--max-series", type=int, default=None, help="the run's sample of series, as given to bench_accuracy.py")
    add_panel_file_args(ap)  # as given to the run
    args = ap.parse_args(argv)
    if args.out.resolve() == args.run.resolve():
        raise SystemExit("--out must differ from --run: the stored results are kept as they are")
    cfg = load_config(args.config)
    folders = sorted(p.parent for p in (args.run / "panels").glob("*/result.json"))
    if args.panels:
        want = set(args.panels.split(","))
        folders = [f for f in folders if f.name in want]
    if not folders:
        raise SystemExit(f"--run: no panels/*/result.json under {args.run}")
    try:
        files = panel_files(args, set(), cfg)
    except PF.PanelFileError as e:
        raise SystemExit(str(e)) from None
    cache = args.cache or args.run / "cache"
    for folder in folders:
        name = folder.name
        missing = [f for f in NEEDED if not (folder / f).is_file()]
        if missing:
            raise SystemExit(f"{folder}: no {', '.join(missing)}: this run did not store its scores")
        panel = load_panel(name, args.m4, cache, files)
        if panel is None:
            raise SystemExit(f"{name}: needs --m4 FOLDER")
        rec = rescore_panel(folder, shrink(panel, args.max_series), args.out / "panels" / name)
        final = rec["hot_sellers"].get("final", {})
        log.info("%s: final ranking AP %s", name, final.get("average_precision"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
