"""The `darkhorse` command line. Every verb takes `--config PATH` (default: ./darkhorse.yaml,
searched upward from the working directory)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from darkhorse.config import Config, ConfigError, load_config
from darkhorse.env import set_offline_defaults

# telemetry off, nothing fetched at run time
set_offline_defaults()

app = typer.Typer(
    help="DarkHorse: predict product demand spikes and turn them into allocation decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Data utilities (synthetic data).", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console(stderr=False)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: darkhorse.yaml, searched upward)."),
]


def _load(config: Path | None) -> Config:
    try:
        return load_config(config)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {msg}", highlight=False)
    raise typer.Exit(code)


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
def print_summary(summary: dict[str, Any]) -> None:
    t = Table(title="rows per source", title_justify="left")
    for col in ("source", "kind", "read", "kept", "quarantined", "outside weeks"):
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
        "partial_*_week: events in a week the data covers only in part)"
    )
    cal, panel, labels = summary["calendar"], summary["panel"], summary["labels"]
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
    else:
        console.print("hot sellers: no week has a complete future horizon yet (need more weeks of data)")
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
    from darkhorse.pipeline import BuildError, GateFailed, SourceError
    from darkhorse.pipeline import build as run_build

    cfg = _load(config)
    try:
        summary = run_build(cfg, features=features, progress=lambda m: err.print(f"[bold cyan]{m}[/bold cyan]"))
    except SourceError as e:
        _fail(str(e), 2)
    except GateFailed as e:
        err.print("[red]error:[/red] the gate refused the candidate; nothing was published.")
        err.print(str(e), highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except BuildError as e:
        _fail(str(e), 1)
    print_summary(summary)


@app.command()
def gate(
    config: ConfigOpt = None,
    candidate: Annotated[
        Path | None, typer.Option(help="Candidate marts folder (default: the newest under data/candidates).")
    ] = None,
) -> None:
    """Run the Great Expectations gate on a built candidate; publishes nothing."""
    from darkhorse.pipeline import BuildError, gate_only

    cfg = _load(config)
    try:
        path, result = gate_only(cfg, candidate)
    except BuildError as e:
        _fail(str(e), 2)
    console.print(f"candidate: {path}")
    console.print(result.summary(), highlight=False, soft_wrap=True)
    raise typer.Exit(0 if result.success else 1)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Run any dbt command with the config's vars and paths, e.g. `darkhorse dbt run -s fct_item_weeks`."""
    from darkhorse.pipeline import BuildError, run_dbt

    cfg = _load(config)
    if not ctx.args:
        _fail("give a dbt command, e.g. `darkhorse dbt build`", 2)
    try:
        ok = run_dbt(cfg, list(ctx.args))
    except BuildError as e:
        _fail(str(e))
    raise typer.Exit(0 if ok else 1)


@app.command()
def train(config: ConfigOpt = None) -> None:
    """Backtest and train the ensemble (not available yet in this release)."""
    _load(config)
    err.print(
        "darkhorse train: the forecasting ensemble is not part of this release yet; "
        "`darkhorse build` produces the panels and labels it will train on."
    )
    raise typer.Exit(3)


# --------------------------------------------------------------------------- data
@data_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .jsonl or .jsonl.gz file.")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="Number of review records.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed (same seed, same file).")] = 0,
    items: Annotated[int | None, typer.Option("--items", help="Number of items (default scales with rows).")] = None,
    start: Annotated[str, typer.Option(help="First day (ISO date).")] = "2019-01-07",
    weeks: Annotated[int, typer.Option(help="Weeks covered.")] = 156,
    config: ConfigOpt = None,
) -> None:
    """Write synthetic Amazon Reviews 2023 records with launches, seasonality and surges."""
    from darkhorse.synth import generate_reviews

    try:
        info = generate_reviews(
            out, rows=rows, seed=seed, n_items=items, start=start, weeks=weeks, progress=sys.stderr.isatty()
        )
    except ValueError as e:
        _fail(str(e), 2)
    console.print(
        f"wrote {info['rows']:,} reviews of {info['items']:,} items by {info['users']:,} users "
        f"({info['surging_items']:,} surging items), {info['start']} .. {info['end']}, to {info['path']}"
    )


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
