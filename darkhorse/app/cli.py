"""The `darkhorse` command line. Every verb takes `--config PATH` (default: ./darkhorse.yaml,
searched upward from the working directory).

Errors: every command runs inside `ExplainedGroup.invoke`, the one place that catches
`DarkHorseError`. Its message is printed as one red line and the exit code says what kind it
is: 2 for a bad input (the error is also a `ValueError`: config, source, tune request ...), 1
for a step that failed (no published panel, a broken feature store, a failed gate ...). Any
other exception is a bug and keeps its traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from darkhorse.core.config import Config, label_share_far_above, load_config
from darkhorse.core.env import set_process_defaults
from darkhorse.core.errors import DarkHorseError

# telemetry off, nothing fetched at run time
set_process_defaults()

console = Console(stderr=False)
err = Console(stderr=True)


def explain(error: DarkHorseError) -> int:
    """Print an error DarkHorse explains as one red line (its text taken literally, not as rich
    markup); return the exit code: 2 for a bad input, 1 for a failed step."""
    err.print(Text.assemble(("error:", "red"), " ", str(error)), highlight=False, soft_wrap=True)
    return 2 if isinstance(error, ValueError) else 1


class ExplainedGroup(TyperGroup):
    """The command group: runs the chosen command and turns a `DarkHorseError` into its message
    and exit code (the one place the CLI catches errors)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DarkHorseError as e:
            raise typer.Exit(explain(e)) from None


app = typer.Typer(
    cls=ExplainedGroup,
    help="DarkHorse: predict product demand spikes and turn them into allocation decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Data utilities (synthetic data).", no_args_is_help=True)
app.add_typer(data_app, name="data")
load_app = typer.Typer(help="Request load: replica plans from the interval panel.", no_args_is_help=True)
app.add_typer(load_app, name="load")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: darkhorse.yaml, searched upward)."),
]


def _load(config: Path | None) -> Config:
    return load_config(config)


def _usage(msg: str) -> None:
    """A command called the wrong way: the message, exit code 2."""
    err.print(Text.assemble(("error:", "red"), " ", msg), highlight=False)
    raise typer.Exit(2)


# --------------------------------------------------------------------------- config
@app.command("config")
def config_cmd(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the dbt vars as JSON.")] = False,
) -> None:
    """Validate the config and print the resolved values (what dbt and the trainers see)."""
    cfg = _load(config)
    if as_json:
        print(json.dumps(cfg.dbt_vars(), indent=2))
        return
    console.print(f"[bold]config[/bold] {cfg.root}  hash {cfg.config_hash()}")
    t = Table("source", "kind", "format", "files")
    for s in cfg.sources:
        t.add_row(s.name, s.kind, s.resolved_format(), "\n".join(cfg.source_paths(s)))
    console.print(t)
    for k, v in cfg.panel.model_dump(mode="json").items():
        console.print(f"  panel.{k} = {v}")
    console.print(f"  duckdb = {cfg.duckdb_path}\n  marts = {cfg.marts_dir}")


# --------------------------------------------------------------------------- build
def _print_weekly(cal: dict[str, Any], panel: dict[str, Any], labels: dict[str, Any]) -> None:
    console.print(
        f"panel: {panel['items']:,} items x {panel['weeks']:,} weeks = {panel['rows']:,} rows "
        f"(complete weeks {cal['first_complete_week']} .. {cal['last_complete_week']})"
    )
    if labels["weeks_with_known_label"]:
        console.print(
            f"hot sellers (top {1 - labels['quantile']:.0%} growth among eligible items): "
            f"{labels['weeks_with_known_label']} weeks with a known label, prevalence mean "
            f"{labels['prevalence_mean']:.4f} (min {labels['prevalence_min']:.4f}, max {labels['prevalence_max']:.4f})"
        )
        t = Table("week", "eligible items", "hot sellers", "share", title="hot sellers per week", title_justify="left")
        for w in labels["per_week"]:
            share = w["hot_sellers"] / w["candidates"] if w["candidates"] else 0.0
            t.add_row(w["week_start"], f"{w['candidates']:,}", f"{w['hot_sellers']:,}", f"{share:.3f}")
        console.print(t)
        note = small_catalogue_note(labels)
        if note:
            console.print(f"[yellow]{note}[/yellow]")
    else:
        console.print("hot sellers: no week has a complete future horizon yet (need more weeks of data)")


def several_dates_note(name: str, source: dict[str, Any]) -> str | None:
    """A warning for a source declared weekly whose item-weeks hold rows of several dates
    (`summary.sources[name].weekly_item_weeks_with_several_dates`): daily rows, probably."""
    several = source.get("weekly_item_weeks_with_several_dates") or {}
    if not several.get("item_weeks"):
        return None
    return (
        f"note: source '{name}' is declared weekly, yet {several['item_weeks']:,} of {several['of']:,} item-weeks hold "
        "rows of several dates (daily rows?): their rows are summed into the week, and a first or last week the data "
        "covers only in part counts as complete; `granularity: daily` sets those aside"
    )


def catalog_note(name: str, source: dict[str, Any]) -> str | None:
    """How much of the panel a catalogue source describes (`summary.sources[name].coverage`)."""
    cover = source.get("coverage")
    if cover is None:
        return None
    note = f"catalog '{name}' lists {cover['listed']:,} of the panel's {cover['panel_items']:,} items"
    if cover["listed_not_in_panel"]:
        note += f"; {cover['listed_not_in_panel']:,} listed item(s) have no event in the panel"
    return note


def small_catalogue_note(labels: dict[str, Any]) -> str | None:
    """A warning when the label marks far more than its top share: with fewer eligible items
    than 1 / (1 - quantile) the top share rounds up to one whole item of a few."""
    target = 1 - labels["quantile"]
    mean = labels.get("prevalence_mean")
    if mean is None or not label_share_far_above(mean, target):
        return None
    fewest = min((w["candidates"] for w in labels["per_week"] if w["candidates"]), default=0)
    return (
        f"note: hot sellers mark {mean:.0%} of the eligible items on average, not {target:.0%}: as few as {fewest} "
        f"eligible item(s) in a week, and the top {target:.0%} rounds up to whole items; hot-seller metrics on this "
        "panel rest on a handful of labels"
    )


def print_summary(summary: dict[str, Any]) -> None:
    t = Table(title="rows per source", title_justify="left")
    for col in ("source", "kind", "read", "kept", "quarantined", "outside panel"):
        t.add_column(col, justify="left" if col in ("source", "kind") else "right")
    for name, s in summary["sources"].items():
        t.add_row(
            name, s["kind"], f"{s['read']:,}", f"{s['kept']:,}", f"{s['quarantined']:,}",
            f"{s['outside_complete_weeks']:,}",
        )
    console.print(t)
    t = Table("source", "set aside because", "rows", title="rows not in the panel", title_justify="left")
    for name, s in summary["sources"].items():
        for reason, n in sorted(s["reasons"].items()):
            t.add_row(name, reason, f"{n:,}")
    if t.row_count:
        console.print(t)
    console.print(
        "  (quarantined rows with their raw record: quarantined_events.parquet; "
        "partial_*_week: events in a week the data covers only in part; partial_*_interval: "
        "a request log's rows in an interval it covers only in part)"
    )
    for name, s in summary["sources"].items():
        note = several_dates_note(name, s)
        if note:
            console.print(f"[yellow]{note}[/yellow]")
        note = catalog_note(name, s)
        if note:
            console.print(note)
    cal, panel, labels = summary["calendar"], summary["panel"], summary["labels"]
    load = summary.get("load_panel")
    if load is not None:
        console.print(
            f"interval load panel: {load['series']:,} series, {load['rows']:,} rows "
            f"(complete intervals {load['first_interval']} .. {load['last_interval']})"
        )
    if load is None or panel["rows"]:  # a request_log-only config has no weekly panel
        _print_weekly(cal, panel, labels)
    if "gate" in summary:
        g = summary["gate"]
        console.print(f"gate: {'passed' if g['success'] else 'FAILED'} (data docs: {g['docs']})")
    if "published" in summary:
        console.print(f"published snapshot: {summary['published']}")
    if "feast" in summary:
        console.print(f"feast: {summary['feast']}")
    for name, path in summary["marts"].items():
        console.print(f"  {name}: {path}")
    if "summary_path" in summary:
        console.print(f"summary written to {summary['summary_path']}")


@app.command()
def build(
    config: ConfigOpt = None,
    features: Annotated[
        bool, typer.Option("--features/--no-features", help="Apply and materialize Feast after publishing.")
    ] = True,
) -> None:
    """Check the sources, build panels and labels with dbt, gate them, publish them, refresh Feast.

    Nothing is published unless dbt and the gate pass: the last published marts, Feast
    registry and online store stay as they were.
    """
    from darkhorse.app.build import build as run_build

    cfg = _load(config)
    summary = run_build(cfg, features=features, progress=lambda m: err.print(f"[bold cyan]{m}[/bold cyan]"))
    print_summary(summary)


@app.command()
def gate(
    config: ConfigOpt = None,
    candidate: Annotated[
        Path | None, typer.Option(help="Candidate marts folder (default: the newest under data/candidates).")
    ] = None,
) -> None:
    """Run the Great Expectations gate on a built candidate; publishes nothing."""
    from darkhorse.app.build import gate_only

    cfg = _load(config)
    path, result = gate_only(cfg, candidate)
    console.print(f"candidate: {path}")
    console.print(result.summary(), highlight=False, soft_wrap=True)
    raise typer.Exit(0 if result.success else 1)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Run any dbt command with the config's vars and paths, e.g. `darkhorse dbt run -s fct_item_weeks`."""
    from darkhorse.app.build import run_dbt

    cfg = _load(config)
    if not ctx.args:
        _usage("give a dbt command, e.g. `darkhorse dbt build`")
    if any(s.resolved_format() == "excel" for s in cfg.sources):
        from darkhorse.app.preflight import preflight

        preflight(cfg)  # dbt reads a workbook's text copy: bring it up to date (checking the sources)
    raise typer.Exit(0 if run_dbt(cfg, list(ctx.args)) else 1)


def print_forecast_metrics(metrics: dict[str, Any]) -> None:
    table = Table(title="backtest (evaluation windows)")
    cols = ("mase", "scaled_pinball", "coverage_80", "smape", "wape")
    table.add_column("model")
    for c in cols:
        table.add_column(c, justify="right")
    for name, m in metrics.get("models", {}).items():
        table.add_row(name, *("–" if m.get(c) is None else f"{m[c]:.4g}" for c in cols))
    console.print(table)
    hot = metrics.get("hot_sellers") or {}
    if hot:
        t = Table(title=f"hot sellers (top {metrics.get('hot_seller_fraction', 0.05):.0%})")
        for c in ("score", "average_precision", "precision_at_top", "recall_at_top", "lift_vs_momentum", "brier"):
            t.add_column(c, justify="right" if c != "score" else "left")
        for name, m in hot.items():
            t.add_row(name, *("–" if m.get(c) is None else f"{m[c]:.4g}" for c in
                              ("average_precision", "precision_at_top", "recall_at_top", "lift_vs_momentum", "brier")))
        console.print(t)


OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output folder (default: training.out_dir of the config).")
]


@app.command()
def backtest(
    config: ConfigOpt = None,
    out: OutOpt = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the plots and report.html.")] = False,
) -> None:
    """Rolling-origin backtest of every configured model and the blend; writes forecasts,
    hot-seller scores, metrics, plots and report.html. A request_log source's load members and
    ensemble are backtested at the load grain into <out>/load/ (a config with both runs both)."""
    cfg = _load(config)
    out_dir = out or cfg.out_dir
    if cfg.has_request_log:
        from training.load.backtest import OUT_SUBDIR, backtest_config

        load = backtest_config(cfg, out_dir=out_dir, report=not no_report, progress=console.print)
        print_forecast_metrics(load.metrics)
        load_dir = out_dir / OUT_SUBDIR
        console.print(f"load outputs in {load_dir}" + ("" if no_report else f"; report: {load_dir / 'report.html'}"))
    if not cfg.has_item_sources:
        return
    from training.backtest import run_backtest

    result = run_backtest(cfg, out_dir=out_dir, report=not no_report, show_progress=True)
    print_forecast_metrics(result.metrics)
    console.print(f"outputs in {out_dir}" + ("" if no_report else f"; report: {out_dir / 'report.html'}"))


@app.command()
def train(
    config: ConfigOpt = None,
    out: OutOpt = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not write to the BentoML model store.")] = False,
) -> None:
    """Backtest, fit the final ensemble on all data and save it to the BentoML model store."""
    cfg = _load(config)
    from training.train import train as run_train

    if not cfg.has_item_sources:  # request load only
        from training.load.train import train_load
        from training.train import release_version

        run = train_load(cfg, version=release_version(cfg), out_dir=out or cfg.out_dir, save=not no_save)
        console.print(f"load ensemble weights {run['weights']}; held-out MASE {run['held_out_mase']}")
        console.print(f"saved load_forecaster: [bold]{run['tag']}[/bold]")
        return
    result = run_train(cfg, out_dir=out, save=not no_save)
    print_forecast_metrics(result.metrics)
    for kind, tag in (result.manifest.models.model_dump() if result.manifest.models else {}).items():
        console.print(f"saved {kind}: [bold]{tag}[/bold]")
    if "load" in result.metrics.get("release", {}):
        console.print(f"saved load_forecaster: [bold]{result.metrics['release']['load']['tag']}[/bold]")
    console.print(f"outputs in {result.out_dir}; report: {result.out_dir / 'report.html'}")


@app.command()
def release(
    config: ConfigOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="List the releases in the store, newest first.")] = False,
    latest: Annotated[bool, typer.Option("--latest", help="Print the newest release's tag and exit.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild the release of the last run if it exists.")] = False,
) -> None:
    """Build a versioned bento of the last trained ensemble (models pinned by tag, model card)."""
    cfg = _load(config)
    from darkhorse.app.release import build_release, latest_release, list_releases

    if latest:
        print(latest_release(cfg))
        return
    if list_:
        for r in list_releases(cfg):
            console.print(f"{r['tag']}  {r['created']}  models: {', '.join(r['models'])}")
        return
    rel = build_release(cfg, force=force, progress=lambda msg: console.print(msg))
    console.print(f"release [bold]{rel.tag}[/bold] (models: {', '.join(rel.models.values())})")
    console.print(f"serve it: bentoml serve {rel.tag}   (or: make serve)")


@app.command()
def models() -> None:
    """List the registered models."""
    from training.models import available, model_class

    for name in available():
        cls = model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        console.print(f"[bold]{name}[/bold]: {doc}")


@app.command()
def tune(
    config: ConfigOpt = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model or alias to tune (xgboost, xgboost_individual, moving_average, statquant).")
    ] = "xgboost",
    trials: Annotated[
        int, typer.Option("--trials", "-n", min=1, help="Trials the study should hold in all; a rerun resumes it.")
    ] = 20,
    metric: Annotated[
        str, typer.Option(help="Backtest metric to minimise: mase, scaled_pinball, smape, mae, rmse or wape.")
    ] = "mase",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Tuned config to write (default: darkhorse.tuned.yaml beside the config).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Start no new trial after this many seconds.")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL or sqlite file (default: <data_dir>/tune/optuna.db).")
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: <model>-<metric>-<config hash>).")
    ] = None,
) -> None:
    """Tune one model's hyperparameters by backtest (Optuna, resumable) and write a tuned copy
    of the config; the original config is left as it is."""
    from darkhorse.core.config import find_config
    from training.tune import tune as run_tune
    from training.tuned_config import tuned_config_path, write_tuned_config

    cfg = _load(config)
    config_path = find_config(config)
    out_path = tuned_config_path(config_path, out)
    result = run_tune(
        cfg, model=model, n_trials=trials, metric=metric, storage=storage, study_name=study,
        timeout=timeout, show_progress=True,
    )
    base, best = result.baseline_value, result.best_value
    t = Table(title=f"{result.study_name}: {result.n_trials_done} trials ({result.n_trials_run} run now)")
    for col in ("", "baseline (config)", f"best (trial #{result.best_trial})"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row(f"[bold]{result.metric}[/bold]", "–" if base is None else f"{base:.4f}", f"{best:.4f}")
    for k in sorted(set(result.baseline_params) | set(result.best_params)):
        b, v = result.baseline_params.get(k, "–"), result.best_params.get(k, "–")
        t.add_row(k, *(f"{x:.4g}" if isinstance(x, float) else str(x) for x in (b, v)))
    console.print(t)
    if base is not None and best >= base:
        console.print(f"no trial beat the config's own params on {result.metric}: the tuned config keeps them")
    elif base is not None and base > 0:
        console.print(f"{result.metric}: {best:.4f} vs {base:.4f} ({(best - base) / base:+.1%})")
    path = write_tuned_config(config_path, result, out_path)
    console.print(f"tuned config written to {path} (study in {result.storage})")
    console.print(f"try it: darkhorse backtest --config {path}")


# --------------------------------------------------------------------------- data
@data_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .jsonl or .jsonl.gz file.")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="Number of review records.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed (same seed, same file).")] = 0,
    items: Annotated[int | None, typer.Option("--items", help="Number of items (default scales with rows).")] = None,
    start: Annotated[str, typer.Option(help="First day (ISO date).")] = "2019-01-07",
    weeks: Annotated[int, typer.Option(help="Weeks covered.")] = 156,
    spread: Annotated[bool, typer.Option(
        "--spread", help="Plant graph and text effects: surges spread to co-reviewed items of the category, "
        "reviews near a surge's onset carry a buzz phrase; ground truth in <out>.truth.parquet.")] = False,
    catalog: Annotated[Path | None, typer.Option(
        "--catalog", metavar="FILE", help="also write the items' catalogue (Amazon Reviews 2023 item metadata: "
        "title, main_category, store, features, description) to FILE")] = None,
) -> None:
    """Write synthetic Amazon Reviews 2023 records with launches, seasonality and surges."""
    from synthetic.generator import generate_reviews

    info = generate_reviews(
        out, rows=rows, seed=seed, n_items=items, start=start, weeks=weeks, progress=sys.stderr.isatty(),
        spread=spread, catalog=catalog,
    )
    console.print(
        f"wrote {info['rows']:,} reviews of {info['items']:,} items by {info['users']:,} users "
        f"({info['surging_items']:,} surging items), {info['start']} .. {info['end']}, to {info['path']}"
    )
    if spread:
        console.print(f"planted: {info['spread_items']:,} items a surge spreads to; ground truth in {info['truth']}")
    if catalog is not None:
        console.print(f"catalogue of {info['catalog_items']:,} items written to {info['catalog']}")


# --------------------------------------------------------------------------- load
@load_app.command("plan")
def load_plan(
    config: ConfigOpt = None,
    series: Annotated[str | None, typer.Option("--series", help="Series id (default: every series).")] = None,
    horizon: Annotated[int, typer.Option("--horizon", "-h", help="Intervals ahead.")] = 12,
    throughput: Annotated[float | None, typer.Option(help="Load one replica serves per interval (default: load.plan).")] = None,
) -> None:
    """Plan replicas for the intervals after the published interval panel (offline: nothing
    the service keeps is touched), with load.plan of the config."""
    import tempfile

    from darkhorse.serving import api
    from darkhorse.serving.load import LoadRoutes

    cfg = _load(config)
    if not cfg.has_request_log:
        _usage(f"{cfg.path}: no request_log source, so no interval panel to plan from")
    with tempfile.TemporaryDirectory(prefix="darkhorse-load-") as state:
        routes = LoadRoutes.from_config(cfg, state_dir=state)
        for sid in [series] if series else routes.stream.series:
            out = routes.plan(api.LoadPlanRequest(series_id=sid, horizon=horizon, throughput_per_replica=throughput))
            table = Table(title=f"{sid}: {out.grain} intervals, q{out.quantile:g} load, {out.throughput_per_replica:g} per replica")
            for col in ("interval start (UTC)", f"load q{out.quantile:g}", "replicas", "capacity", "P(over)", "actionable"):
                table.add_column(col, justify="right")
            for i in out.intervals:
                table.add_row(i.start.strftime("%Y-%m-%d %H:%M"), f"{i.load_at_quantile:,.1f}", str(i.replicas),
                              f"{i.capacity:,.1f}", f"{i.p_over_capacity:.3f}", "yes" if i.actionable else "no")
            console.print(table)
            console.print(
                f"expected intervals over capacity {out.expected_intervals_over_capacity:.2f}, "
                f"replica-hours {out.replica_hours:.2f}, scaling actions {out.scaling_actions}"
            )


def main() -> None:
    """The console script (`ExplainedGroup` turns DarkHorse's errors into one line)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
