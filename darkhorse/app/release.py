"""`darkhorse release`: package the last trained ensemble as a versioned bento.

A release is a bento named `serving.bento` whose version is the training run's version
(`YYYYmmddHHMMSS-<config hash>`). Its build context, kept under `<data_dir>/releases/<version>`,
holds the service (`bentos/`), the code it imports (`darkhorse/`, `training/`), `release.json`
(the run's `ReleaseManifest` from `train.json`: model tags pinned by full version, never
`:latest`; config path and hash, data snapshot, horizon, backtest metrics; plus the release
section this step adds) and `MODEL_CARD.md`, the bento's description. The bento is built with
`bentoml build --version <version>`; older releases stay in the store and can still be served.

With a `request_log` source the release also carries the load part: `load_release.json` (the
run's `LoadManifest` from `load_train.json`, with the same release section) and `load_seed/`.
A request_log-only config releases the load part alone: no `release.json`, a load model card;
the release section's `parts` says which the bento carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from darkhorse.core.config import Config
from darkhorse.core.env import PROCESS_ENV
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.manifest import (
    LOAD_RELEASE_FILE,
    LOAD_TRAIN_FILE,
    RELEASE_FILE,
    TRAIN_FILE,
    BentoRelease,
    LoadManifest,
    ManifestError,
    ReleaseManifest,
)
from darkhorse.serving import regions
from darkhorse.serving.allocation import grid_levels
from darkhorse.serving.load import LOAD_SEED_DIR

REPO = Path(__file__).resolve().parents[2]
SERVICE_DIR = REPO / "bentos"
PACKAGES = ("darkhorse", "training")


class ReleaseError(DarkHorseError, RuntimeError):
    """No trained models to release, or the bento build failed; the message says which."""


@dataclass(frozen=True)
class Release:
    """A built bento: its tag and the model tags it pins."""

    tag: str
    models: dict[str, str]


def trained_run(config: Config) -> ReleaseManifest:
    """The last `darkhorse train` of this config (its `train.json`), checked against the store."""
    path = config.out_dir / TRAIN_FILE
    if not path.is_file():
        raise ReleaseError(f"{path} not found: run `darkhorse train` (or `make train`) first")
    run = ReleaseManifest.read(path)
    for tag in run.pinned(str(path)).model_dump().values():
        require_stored(tag, path)
    return run


def bentoml_home() -> str:
    return os.environ.get("BENTOML_HOME", str(Path.home() / "bentoml"))


def require_stored(tag: str, path: Path) -> None:
    """Raise ReleaseError unless the model `tag` pinned by the manifest `path` is in the BentoML store."""
    import bentoml

    try:
        bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as exc:
        raise ReleaseError(
            f"model {tag} of {path} is not in the BentoML store {bentoml_home()}: "
            "train again, or set BENTOML_HOME to the store it was saved in"
        ) from exc


def _cell(values: dict[str, float], metric: str) -> str:
    return f"{values[metric]:.3f}" if metric in values else "–"


def model_card(manifest: ReleaseManifest) -> str:
    release = manifest.released()
    models = manifest.pinned()
    rows = [
        f"| {m} | {_cell(v, 'mase')} | {_cell(v, 'scaled_pinball')} | {_cell(v, 'coverage_80')} |"
        for m, v in sorted(manifest.metrics.items(), key=lambda kv: kv[1].get("mase", float("inf")))
    ]
    pinned = "\n".join(f"- {k}: `{v}`" for k, v in models.model_dump().items())
    windows = ", ".join(str(w) for w in manifest.backtest_windows)
    last_week = manifest.last_week.isoformat()
    return f"""# DarkHorse release {manifest.version}

Weekly demand forecasts, hot-seller ranking and capacity allocation for
{manifest.n_series:,} items, trained through the week of {last_week}.

- Built: {release.created_at.isoformat(timespec="seconds")}
- Pinned models:
{pinned}
- Config: `{manifest.config_path}` (hash `{manifest.config_hash}`)
- Data snapshot: `{manifest.data_snapshot}`; published marts: `{manifest.marts_snapshot}`
- Horizon: {manifest.horizon} weeks; trained quantiles: {manifest.quantiles}

## Rolling-origin backtest

Origins: {windows}. MASE (lower is better), scaled pinball loss, share of actuals inside the
80% interval.

| model | MASE | scaled pinball | coverage 80 |
|---|---:|---:|---:|
{chr(10).join(rows)}

## Intended use and limits

- Forecasts and allocations are for the items of the training panel only; any other item is
  rejected. Forecasts start the week after {last_week}; retrain as weeks close
  (every response says how far the online features are ahead of the models).
- Allocation over several weeks reads the weekly forecasts along the backtest's sample paths
  (the levels the actuals took week after week), so a period's total has its own spread; one
  week is the forecast itself. `balance` adds its items' quantiles level by level, as if they
  moved together: that widens both tails (more headroom above the median, less below it), it
  is not a bound.
- Hot-seller scores rank items by expected growth over the next {manifest.horizon} weeks;
  they are as of the last closed week of the training data.

Serve: `bentoml serve {release.bento}:{manifest.version}`.
"""


def _copy_code(ctx: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", RELEASE_FILE, LOAD_RELEASE_FILE, "MODEL_CARD.md",
                                    regions.REGIONS_FILE)
    for item in SERVICE_DIR.iterdir():
        if item.name == "__pycache__":
            continue
        dest = ctx / item.name
        if item.is_dir():
            shutil.copytree(item, dest, ignore=ignore)
        elif item.suffix in (".py", ".html", ".md"):
            shutil.copy2(item, dest)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, ctx / pkg, ignore=ignore)


def release_parts(config: Config) -> list[str]:
    """What a release of `config` carries: `weekly` with a sales source, `load` with a
    request_log source (a request_log-only config releases the load part alone)."""
    parts = ["weekly"] if config.has_item_sources else []
    return [*parts, "load"] if config.has_request_log else parts


def trained_load(config: Config, version: str | None = None) -> LoadManifest:
    """The config's last load training run (`load_train.json`), checked against the store and,
    when the weekly part rides along, against its run `version`."""
    path = config.out_dir / LOAD_TRAIN_FILE
    if not path.is_file():
        raise ReleaseError(f"{path} not found: the config has a request_log source; run `darkhorse train` first")
    try:
        load = LoadManifest.read(path)
        tag = load.pinned(str(path))
    except ManifestError as exc:
        raise ReleaseError(f"{exc}; run `darkhorse train` again") from None
    if version is not None and load.version != version:
        raise ReleaseError(
            f"{path}: version {load.version} (tag {tag}) is not the run {version} being released; "
            "run `darkhorse train` again"
        )
    require_stored(tag, path)
    return load


def load_model_card(load: LoadManifest) -> str:
    release = load.released()
    rows = "\n".join(
        f"| {m} | {load.weights.get(m, 0.0):.3f} | {'–' if v is None else f'{v:.3f}'} |"
        for m, v in load.held_out_mase.items()
    )
    return f"""# DarkHorse release {load.version}

Request-load forecasts ({load.target} per {load.grain} interval) and replica plans for
{load.series:,} series, trained through the interval starting {load.last_interval} (UTC).
This release has no weekly forecaster: `/v1/forecast`, `/v1/hot-sellers` and `/v1/allocate`
answer 404.

- Built: {release.created_at.isoformat(timespec="seconds")}
- Pinned load model: `{load.tag}`
- Config: `{load.config_path}` (hash `{load.config_hash}`)
- Horizon: {load.horizon} intervals

## Held-out day (the last {load.horizon} intervals of each series)

| member | weight | MASE |
|---|---:|---:|
{rows}

Serve: `bentoml serve {release.bento}:{load.version}`.
"""


def build_release(config: Config, *, force: bool = False, progress=print) -> Release:
    """Build the bento of the last trained run; returns its tag. A run is released once:
    `force` deletes its existing bento and builds it again (after a code change, say). The
    release carries the weekly part (`release.json`), the load part (`load_release.json` and
    seeded buffers) or both, as the config's sources say (`release_parts`)."""
    import bentoml

    parts = release_parts(config)
    run = trained_run(config) if "weekly" in parts else None
    load = trained_load(config, run.version if run else None) if "load" in parts else None
    version = run.version if run is not None else load.version
    name = config.serving.bento
    try:
        bentoml.bentos.get(f"{name}:{version}")
        exists = True
    except bentoml.exceptions.NotFound:
        exists = False
    if exists and not force:
        raise ReleaseError(
            f"release {name}:{version} already exists (one release per training run): "
            "train again for a new one, or pass --force to rebuild it"
        )
    if exists:
        progress(f"deleting the existing bento {name}:{version}")
        bentoml.bentos.delete(f"{name}:{version}")
    ctx = config.data_dir / "releases" / version
    if ctx.exists():
        shutil.rmtree(ctx)
    ctx.mkdir(parents=True)
    _copy_code(ctx)
    bento_release = BentoRelease(
        bento=name, created_at=datetime.now(UTC).replace(microsecond=0),
        quantile_grid=config.serving.quantile_grid, parts=parts,
    )
    models: dict[str, str] = {}
    labels = {"project": config.project, "parts": "+".join(parts)}
    if run is not None:
        manifest = run.with_release(bento_release)
        manifest.write(ctx / RELEASE_FILE)
        # the reconciled item x region forecasts at the service's grid (none without a region column)
        levels = sorted({round(float(q), 6) for q in [*grid_levels(config.serving.quantile_grid), *run.quantiles, 0.5]})
        n_regions = regions.write(config, last_week=run.last_week, horizon=run.horizon, levels=levels,
                                  path=ctx / regions.REGIONS_FILE)
        progress(f"region forecasts: {n_regions} reconciled series" if n_regions else "region forecasts: none (no item x region panel)")
        (ctx / "MODEL_CARD.md").write_text(model_card(manifest))
        models.update(run.pinned().model_dump())
        labels.update({"config_hash": run.config_hash, "data_snapshot": run.data_snapshot,
                       "last_week": run.last_week.isoformat()})
    if load is not None:
        _pin_load(config, load.with_release(bento_release), ctx, progress)
        if run is None:
            (ctx / "MODEL_CARD.md").write_text(load_model_card(load.with_release(bento_release)))
            labels.update({"config_hash": load.config_hash, "last_interval": load.last_interval})
        models["load_forecaster"] = load.pinned()
    bentofile = {
        "service": "service:DarkHorse",
        "name": name,
        "description": "file: ./MODEL_CARD.md",
        "labels": labels,
        "include": ["*.py", "MODEL_CARD.md", "dashboard/*", "darkhorse/**", "training/**",
                    *([RELEASE_FILE, regions.REGIONS_FILE] if run is not None else []),
                    *([LOAD_RELEASE_FILE, f"{LOAD_SEED_DIR}/*"] if load is not None else [])],
        "exclude": ["__pycache__", "*.pyc"],
    }
    (ctx / "bentofile.yaml").write_text(yaml.safe_dump(bentofile, sort_keys=False))
    progress(f"building bento {name}:{version} ({' + '.join(parts)}) from {ctx}")
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    proc = subprocess.run(
        [str(bentoml_cli), "build", "--version", version, str(ctx)],
        capture_output=True, text=True, cwd=ctx, env={**PROCESS_ENV, **os.environ},  # defaults: what the caller set wins
    )
    if proc.returncode != 0:
        raise ReleaseError(f"bentoml build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return Release(tag=f"{name}:{version}", models=models)


def _pin_load(config: Config, load: LoadManifest, ctx: Path, progress) -> None:
    """The run's load model pinned in `load_release.json` (with the release section), and the
    streaming buffers seeded now from the published interval panel into `load_seed/` (the
    service starts from them)."""
    from darkhorse.serving.load import write_seed

    series = write_seed(config, ctx / LOAD_SEED_DIR)
    load.write(ctx / LOAD_RELEASE_FILE)
    progress(f"load model {load.tag} pinned; buffers of {len(series)} series seeded from the interval panel")


def list_releases(config: Config) -> list[dict[str, Any]]:
    """The config's releases in the store, newest first: tag, creation time, pinned models.

    Every config names its bento `darkhorse` unless `serving.bento` says otherwise, so the store
    holds the releases of several configs under one name: only those whose `project` label is the
    config's `project` are the config's (the request-load example's newest release is never the
    weekly one that was built after it)."""
    import bentoml

    out = []
    for bento in bentoml.bentos.list(config.serving.bento):
        if bento.info.labels.get("project") != config.project:
            continue
        out.append({
            "tag": str(bento.tag), "created": bento.info.creation_time.isoformat(timespec="seconds"),
            "models": [str(m.tag) for m in bento.info.all_models],
        })
    return sorted(out, key=lambda r: r["created"], reverse=True)


def latest_release(config: Config) -> str:
    releases = list_releases(config)
    if not releases:
        raise ReleaseError(f"no release of {config.serving.bento!r} for project {config.project!r} in "
                           f"{bentoml_home()}: run `darkhorse train` and `darkhorse release` with this config")
    return releases[0]["tag"]
