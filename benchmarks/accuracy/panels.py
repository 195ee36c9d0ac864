"""The suite's panels, each a `training.history.History` plus its own panel settings.

* `online_retail`: the shipped UCI Online Retail, read through the published panel
  (`training.history.load_history`, Feast covariates, the dbt labels as they are);
* `m4_weekly`: the M4 competition's 359 weekly series, horizon 13, from a folder given on the
  command line (`benchmarks.accuracy.m4`);
* `weekly_sales`: `examples/weekly_sales/weekly_sales.csv` with the panel settings of its
  `darkhorse.yaml`;
* `synthetic_reviews`: `synthetic.generator.generate_reviews` over 3 years (the generator's
  yearly seasonality: holiday peak, summer and Prime-Day bumps, launches, surges), counted per
  item and week.
* `synthetic_sparse`: the same catalogue with 8,000 reviews in 3 years: intermittent counts
  (87% zero item-weeks), where the intermittent-demand members are meant to earn their place.
* `synthetic_long_sparse` (opt-in, `--panels synthetic_long_sparse`; not in the default run, it
  takes about 7 minutes): 1,200 generated items over 822 weeks with 70,000 reviews (92% zero
  item-weeks), the shape of a long review history of a long-tail catalogue.
* `online_retail_regions` (opt-in): the shipped Online Retail per item and country outside the
  home market (the published `item_region_weeks` mart, `darkhorse build` first), pairs with at
  least 4 weeks of sales: real intermittent demand (81% zero weeks), where the other sparse
  panels are generated.
* `m4_weekly_earlier` (opt-in, needs `--m4`): M4 Weekly with its last 26 weeks cut off, so the
  evaluation origins fall half a year earlier (February to April instead of August to October):
  the same real series at another season. The suite's own measures only (the official ones
  belong to the official split).
* `synthetic_store_departments` (opt-in): weekly sales of a generated chain, 20 stores x 40
  departments (701 series) over 143 weeks, each department with its own stable yearly season
  (`synthetic.store_sales`): the shape of store x department sales, where growth read from the
  same weeks a year earlier is a strong hot-seller ranking, which no other panel here shows.

Panels not built through dbt get the dbt label definition from `labels.hot_seller_labels`.
Their frames are dense: one row per item per week from its first week to the panel's last.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.accuracy import m4 as m4mod
from benchmarks.accuracy.labels import hot_seller_labels
from darkhorse.core.config import PanelConfig, SalesSource, load_config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID, Y
from training.groups import groups_from_ids
from training.history import History, load_history

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
PANELS = ("online_retail", "m4_weekly", "weekly_sales", "synthetic_reviews", "synthetic_sparse")
WEEKLY_SALES_CONFIG = REPO / "examples" / "weekly_sales" / "darkhorse.yaml"
# about 13 reviews per item-week on average (heavy-tailed): enough volume for the season to show
SYNTHETIC = {"rows": 1_200_000, "n_items": 600, "weeks": 156, "seed": 0, "start": "2019-01-07"}
# the same catalogue with 150 times fewer reviews (about 0.09 per item-week): 87% of item-weeks
# are zero (the median item 91%), as in real review counts of a long-tail catalogue
SPARSE = {"rows": 8_000}
# 16 years of weekly review counts of a long-tail catalogue: 92% zero item-weeks
LONG_SPARSE = {"rows": 70_000, "n_items": 1_200, "weeks": 822, "start": "2005-01-03"}
# panels a run takes only when named (`--panels`)
OPT_IN_PANELS = ("synthetic_long_sparse", "m4_weekly_earlier", "online_retail_regions", "synthetic_store_departments")
# `online_retail_regions`: the country whose series are the `online_retail` panel's bulk (left
# out), and the weeks with sales a pair needs to be a series
HOME_REGION = "United Kingdom"
REGION_SEPARATOR = " @ "  # an `online_retail_regions` series: `<item> @ <country>`
REGION_MIN_SALE_WEEKS = 4
# weeks cut off the end of M4 Weekly for `m4_weekly_earlier`: half a year, another season
M4_EARLIER_WEEKS = 26


class PanelError(DarkHorseError, RuntimeError):
    pass


@dataclass(frozen=True)
class Panel:
    name: str
    history: History
    panel: PanelConfig
    description: str
    extra: dict[str, Any] = field(default_factory=dict)
    # the published marts the panel was read from: the hot-seller features that read marts
    # (customer signals, graph features) see them only there, never another panel's
    marts: Path | None = None


def dense(frame: pd.DataFrame, last_week: pd.Timestamp) -> pd.DataFrame:
    """One row per item per week from its first week to `last_week`, missing weeks 0."""
    f = frame.groupby([ID, DS], as_index=False)[Y].sum()
    first = f.groupby(ID)[DS].min()
    n = ((last_week - first) / pd.Timedelta(weeks=1)).astype(int) + 1
    ids = np.repeat(first.index.to_numpy(), n.to_numpy())
    offs = np.concatenate([np.arange(k) for k in n.to_numpy()])
    ds = np.repeat(first.to_numpy(), n.to_numpy()) + offs * np.timedelta64(7, "D")
    spine = pd.DataFrame({ID: ids.astype(str), DS: pd.to_datetime(ds)})
    out = spine.merge(f, on=[ID, DS], how="left")
    out[Y] = out[Y].fillna(0.0).astype("float64")
    return out.sort_values([ID, DS], kind="stable").reset_index(drop=True)


def monday_of(day: pd.Series) -> pd.Series:
    """The Monday that starts the (Monday-to-Sunday) week holding each date, at midnight."""
    day = day.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def history_from_frame(
    frame: pd.DataFrame, panel: PanelConfig, *, snapshot: str, groups: pd.DataFrame | None = None
) -> History:
    """A History of a dense `unique_id, ds, y` frame, labels by the dbt definition; `groups`: the
    series' groups (`training.groups`), where the panel knows them."""
    return History(
        frame=frame[[ID, DS, Y]].reset_index(drop=True),
        labels=hot_seller_labels(frame, panel),
        covariates=[],
        snapshot=snapshot,
        data_snapshot=snapshot,
        first_week=frame[DS].min(),
        last_week=frame[DS].max(),
        groups=groups,
    )


def restrict(history: History, ids: list[str]) -> History:
    """The history of the series `ids` only (their known-future covariates and groups too)."""
    keep = set(ids)

    def only(f: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if f is None else f[f[ID].isin(keep)].reset_index(drop=True)

    return dataclasses.replace(
        history, frame=only(history.frame), labels=only(history.labels),
        known_future=only(history.known_future), groups=only(history.groups),
    )


def sample_ids(history: History, n: int | None, seed: int = 0) -> list[str] | None:
    ids = np.sort(history.frame[ID].unique())
    if n is None or n >= len(ids):
        return None
    return sorted(np.random.default_rng(seed).choice(ids, size=n, replace=False).tolist())


# --------------------------------------------------------------------------- loaders
def online_retail(config_path: Path = REPO / "darkhorse.yaml") -> Panel:
    cfg = load_config(config_path)
    try:
        h = load_history(cfg)
    except DarkHorseError as e:
        raise PanelError(f"online_retail: {e} (with --config {config_path})") from e
    return Panel("online_retail", h, cfg.panel, f"UCI Online Retail, published panel of {config_path.name} (dbt labels)",
                 marts=cfg.marts_dir)


def online_retail_regions(config_path: Path = REPO / "darkhorse.yaml") -> Panel:
    """The published `item_region_weeks` mart of `config_path` as a panel (`regions_from_mart`)."""
    cfg = load_config(config_path)
    path = cfg.marts_dir / "item_region_weeks.parquet"
    if not path.is_file():
        raise PanelError(f"online_retail_regions: {path} not found: run `darkhorse build` first (with --config {config_path})")
    return regions_from_mart(path, cfg.panel)


def regions_from_mart(path: Path, panel: PanelConfig) -> Panel:
    """Units per item and country (outside HOME_REGION) and week of an `item_region_weeks` mart:
    one series (`item @ country`) per pair with REGION_MIN_SALE_WEEKS weeks of sales."""
    m = pd.read_parquet(path, columns=["item_id", "region", "week_start", "units"])
    m = m[m["region"] != HOME_REGION]
    frame = pd.DataFrame({ID: m["item_id"].astype(str) + REGION_SEPARATOR + m["region"].astype(str),
                          DS: pd.to_datetime(m["week_start"]), Y: m["units"].astype("float64")})
    sale_weeks = frame[frame[Y] > 0].groupby(ID).size()
    frame = frame[frame[ID].isin(sale_weeks.index[sale_weeks >= REGION_MIN_SALE_WEEKS])]
    frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    groups = groups_from_ids(frame[ID].unique(), REGION_SEPARATOR, ["item", "region"])
    h = history_from_frame(frame, panel, snapshot=f"online_retail_regions:{path}", groups=groups)
    zero = float((frame[Y] == 0).mean())
    return Panel("online_retail_regions", h, panel,
                 f"UCI Online Retail per item and country outside the {HOME_REGION}, {zero:.0%} zero weeks")


def _m4_panel(name: str, frame: pd.DataFrame, *, snapshot: str, description: str, extra: dict | None = None) -> Panel:
    """A panel of M4 Weekly series (`m4.long_frame` rows) with the competition's horizon."""
    panel = PanelConfig(horizon_weeks=m4mod.HORIZON)
    return Panel(name, history_from_frame(frame, panel, snapshot=snapshot), panel, description, extra or {})


def m4_weekly(folder: str | Path) -> Panel:
    data = m4mod.read_m4_weekly(folder)
    return _m4_panel("m4_weekly", m4mod.long_frame(data), snapshot=f"m4-weekly:{folder}",
                     description="M4 Weekly, 359 series, last 13 weeks = official test", extra={"m4": data})


def m4_weekly_earlier(folder: str | Path, weeks: int = M4_EARLIER_WEEKS) -> Panel:
    """M4 Weekly without its last `weeks` weeks: every origin `weeks` earlier, another season."""
    frame = m4mod.long_frame(m4mod.read_m4_weekly(folder))
    frame = m4mod.cut(frame, weeks)
    return _m4_panel("m4_weekly_earlier", frame, snapshot=f"m4-weekly-earlier-{weeks}:{folder}",
                     description=f"M4 Weekly without its last {weeks} weeks (origins at another season)")


def weekly_sales(config_path: Path = WEEKLY_SALES_CONFIG) -> Panel:
    cfg = load_config(config_path)
    src = next((s for s in cfg.sources if isinstance(s, SalesSource)), None)
    if src is None or src.granularity != "weekly":
        raise PanelError(f"{config_path}: needs one `sales` source with granularity: weekly")
    cols = src.columns
    if not isinstance(cols.item_id, str):
        raise PanelError(f"{config_path}: sources.{src.name}.columns.item_id: the suite reads one id column")
    raw = pd.concat([pd.read_csv(p, dtype={cols.item_id: str}) for p in cfg.source_paths(src)], ignore_index=True)
    day = pd.to_datetime(raw[cols.date], format=src.date_format)
    if cfg.panel.week_start != "monday":
        raise PanelError(f"{config_path}: panel.week_start: the suite handles monday weeks only")
    frame = pd.DataFrame({ID: raw[cols.item_id].astype(str), DS: monday_of(day), Y: raw[cols.quantity].astype("float64")})
    frame = dense(frame, frame[DS].max())
    h = history_from_frame(frame, cfg.panel, snapshot=f"weekly_sales:{config_path}")
    return Panel("weekly_sales", h, cfg.panel, "examples/weekly_sales (300 products, 52 weeks)")


def synthetic_reviews(cache: Path, **overrides: Any) -> Panel:
    """Reviews per item and week of a generated catalogue (written once to `cache`)."""
    import duckdb

    from synthetic.generator import generate_reviews

    p = {**SYNTHETIC, **overrides}
    path = cache / f"reviews_{p['rows']}_{p['n_items']}_{p['weeks']}_{p['seed']}.jsonl"
    if not path.is_file():
        log.info("generating %s synthetic reviews -> %s", f"{p['rows']:,}", path)
        generate_reviews(path, rows=p["rows"], n_items=p["n_items"], weeks=p["weeks"], seed=p["seed"], start=p["start"])
    start = pd.Timestamp(p["start"])
    if start.weekday() != 0:
        raise PanelError(f"synthetic start {p['start']} is not a Monday")
    counts = duckdb.sql(
        f"""
        select parent_asin as unique_id,
               cast(date_trunc('week', make_timestamp(cast(timestamp as bigint) * 1000)) as date) as ds,
               count(*)::double as y
        from read_json('{path}', columns={{'parent_asin': 'varchar', 'timestamp': 'bigint'}})
        group by all
        """
    ).df()
    counts[DS] = pd.to_datetime(counts[DS])
    last = start + pd.Timedelta(weeks=p["weeks"] - 1)
    frame = dense(counts, last)
    panel = PanelConfig()
    h = history_from_frame(frame, panel, snapshot=f"synthetic:{path.name}")
    return Panel("synthetic_reviews", h, panel, f"synthetic reviews, {p['n_items']} items x {p['weeks']} weeks, yearly season", {"generator": p})


def synthetic_sparse(cache: Path) -> Panel:
    """The synthetic catalogue with few reviews: an intermittent panel (mostly zero weeks)."""
    p = synthetic_reviews(cache, **SPARSE)
    zero = float((p.history.frame[Y] == 0).mean())
    return Panel("synthetic_sparse", p.history, p.panel,
                 f"sparse synthetic reviews, {p.extra['generator']['rows']:,} reviews, {zero:.0%} zero weeks", p.extra)


def synthetic_long_sparse(cache: Path) -> Panel:
    """A long intermittent panel: few reviews over 822 weeks (mostly zero weeks)."""
    p = synthetic_reviews(cache, **LONG_SPARSE)
    zero = float((p.history.frame[Y] == 0).mean())
    g = p.extra["generator"]
    return Panel("synthetic_long_sparse", p.history, p.panel,
                 f"long sparse synthetic reviews, {g['n_items']:,} items x {g['weeks']} weeks, {g['rows']:,} reviews, "
                 f"{zero:.0%} zero weeks", p.extra)


def synthetic_store_departments(**overrides: Any) -> Panel:
    """Weekly sales of a generated chain's store x department panel with a strong, stable yearly
    season (`synthetic.store_sales`): where the seasonal heuristic ranks hot sellers well."""
    from synthetic.store_sales import SEPARATOR, store_department_sales

    frame = store_department_sales(**overrides)
    panel = PanelConfig()
    n = frame[ID].nunique()
    weeks = frame[DS].nunique()
    groups = groups_from_ids(frame[ID].unique(), SEPARATOR, ["store", "department"])
    h = history_from_frame(frame, panel, snapshot=f"store_departments:{sorted(overrides.items())}", groups=groups)
    return Panel("synthetic_store_departments", h, panel,
                 f"synthetic store x department sales, {n} series x {weeks} weeks, stable yearly season", {"generator": overrides})


__all__ = [
    "HOME_REGION",
    "M4_EARLIER_WEEKS",
    "OPT_IN_PANELS",
    "PANELS",
    "REGION_MIN_SALE_WEEKS",
    "Panel",
    "PanelError",
    "dense",
    "history_from_frame",
    "m4_weekly",
    "m4_weekly_earlier",
    "monday_of",
    "online_retail",
    "online_retail_regions",
    "regions_from_mart",
    "restrict",
    "sample_ids",
    "synthetic_long_sparse",
    "synthetic_reviews",
    "synthetic_sparse",
    "synthetic_store_departments",
    "weekly_sales",
]
