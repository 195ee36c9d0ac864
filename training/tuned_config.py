"""The tuned copy of a config that `darkhorse tune` writes: the user's file with one model's
params replaced by the study's best, a header with the search's and the held-out scores; the
original file is never touched."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from darkhorse.core.config import Config, load_config
from training.tune import TuneError, TuneResult, format_number

TUNED_CONFIG_NAME = "darkhorse.tuned.yaml"

# Path-valued keys of the config (relative ones resolve against the file's folder)
_PATH_KEYS = {"paths": ("data_dir", "duckdb", "marts", "dbt_project"), "feast": ("repo",), "training": ("out_dir",)}


def tuned_config_path(config_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Where the tuned copy goes; refuses the original config's own path."""
    src = Path(config_path).resolve()
    out = (Path(out_path) if out_path is not None else src.parent / TUNED_CONFIG_NAME).resolve()
    if out == src:
        raise TuneError(f"refusing to overwrite the original config {src}; choose another output path")
    return out


def write_tuned_config(config_path: str | Path, result: TuneResult, out_path: str | Path | None = None) -> Path:
    """Copy the config at `config_path` to `out_path` (default `<its folder>/darkhorse.tuned.yaml`)
    with the tuned model's params replaced by `result.best_params`; returns the written path.

    Comments of the original are not kept (a header says where the file came from). When the new
    file lives in another folder, every path in it is written absolute so it reads the same data.
    """
    src = Path(config_path).resolve()
    out = tuned_config_path(src, out_path)
    config = load_config(src)
    doc = yaml.safe_load(src.read_text()) or {}
    forecast = doc.setdefault("forecast", {}) or {}
    doc["forecast"] = forecast
    if "models" not in forecast:  # the defaults are in use: write them out, tuned one changed
        forecast["models"] = [m.model_dump(mode="json", exclude_defaults=True) for m in config.forecast.models]
    models = forecast["models"]
    name = result.alias or result.model
    entries = [m for m in models if isinstance(m, dict)]
    matches = [m for m in entries if m.get("alias") == name] or [
        m for m in entries if m.get("model") == result.model and not m.get("alias")
    ]
    matches.sort(key=lambda m: m.get("enabled", True) is False)  # enabled first, as tune picks
    entry = matches[0] if matches else None
    if entry is None:
        entry = {"model": result.model}
        if result.alias:
            entry["alias"] = result.alias
        models.append(entry)
    entry["params"] = {k: _plain(v) for k, v in result.best_params.items()}
    if out.parent != src.parent:
        _absolute_paths(doc, config)
    baseline = "n/a" if result.baseline_value is None else f"{result.baseline_value:.6g}"
    header = (
        f"# Tuned copy of {src} (written {datetime.now(UTC).date().isoformat()} by `darkhorse tune`).\n"
        f"# Only the params of forecast.models '{name}' ({result.model}) differ from the original.\n"
        f"# Study {result.study_name!r} in {result.storage}: {result.n_trials_done} trials,\n"
        f"# backtest {result.metric} on the search's windows: baseline {baseline} -> best {result.best_value:.6g}"
        f" (trial #{result.best_trial});\n"
        f"# on the held-out windows {', '.join(result.holdout_cutoffs) or 'n/a'} (never seen by the search): "
        f"baseline {format_number(result.holdout_baseline_value)} -> best {format_number(result.holdout_value)}.\n"
        + "".join(f"# Fewer evaluation windows than asked in {line}.\n" for line in result.windows_reduced)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    load_config(tmp)  # never leave a file that does not load
    os.replace(tmp, out)
    return out


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        return v.item()
    return v


def _absolute_paths(doc: dict[str, Any], config: Config) -> None:
    for section, keys in _PATH_KEYS.items():
        sec = doc.get(section) or {}
        for key in keys:
            value = getattr(getattr(config, section), key)
            sec[key] = str(config.resolve(value))
        doc[section] = sec
    for src, resolved in zip(doc.get("sources") or [], config.sources, strict=False):
        paths = config.source_paths(resolved)
        src["path"] = paths[0] if isinstance(resolved.path, str) else paths


__all__ = ["TUNED_CONFIG_NAME", "tuned_config_path", "write_tuned_config"]
