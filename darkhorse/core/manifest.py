"""The hand-off from training to release to serving: one typed, versioned `ReleaseManifest`.

* `darkhorse train` writes it as `train.json` beside its outputs (and, without the model tags,
  as the metadata of both models it saves in the BentoML store);
* `darkhorse release` reads that file, checks the pinned models, adds the `release` section and
  writes `release.json` into the bento;
* the service (`bentos/service.py`, `darkhorse.serving.engine`) reads `release.json`.

A config with a `request_log` source also trains the load forecaster: `LoadManifest`, written
as `load_train.json` by `training.load.train` and, with the same `release` section, as
`load_release.json` into the bento. A release carries the weekly part, the load part or both;
`BentoRelease.parts` says which (a request_log-only release has no `release.json`).

Backtest metrics are nested, model -> metric -> value (`metrics["blend"]["mase"]`), never
flattened into strings. Every read is validated: a file written by another schema version, or
with a missing or malformed field, raises `ManifestError` naming the file and the field.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from darkhorse.core.errors import DarkHorseError

SCHEMA_VERSION = 1
TRAIN_FILE = "train.json"
RELEASE_FILE = "release.json"
LOAD_TRAIN_FILE = "load_train.json"  # the load run, beside train.json
LOAD_RELEASE_FILE = "load_release.json"  # in a release: the pinned load model
Part = Literal["weekly", "load"]


class ManifestError(DarkHorseError, ValueError):
    """A manifest file is missing, unreadable, of another schema version or has a bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pinned_tag(tag: str) -> str:
    name, _, version = tag.partition(":")
    if not name or not version or ":" in version or version == "latest":
        raise ValueError(f"{tag!r} is not a tag pinned by version (name:version, not :latest)")
    return tag


class PinnedModels(_Strict):
    """BentoML model tags (`name:version`, never `:latest`) of one training run."""

    forecaster: str
    hot_seller_classifier: str

    @field_validator("forecaster", "hot_seller_classifier")
    @classmethod
    def _pinned(cls, tag: str) -> str:
        return _pinned_tag(tag)


class BentoRelease(_Strict):
    """What `darkhorse release` adds: the bento it built and the service's settings."""

    bento: str = Field(min_length=1)
    created_at: datetime
    quantile_grid: int = Field(ge=2)
    parts: list[Part] = Field(
        default_factory=lambda: ["weekly"], min_length=1,
        description="What the release carries: the weekly forecaster (release.json), the load forecaster (load_release.json).",
    )


class _ManifestFile(_Strict):
    """A manifest file: validated reads and atomic writes, and the `release` section that
    `darkhorse release` adds (each subclass declares its `release` field)."""

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Read and validate `path`; any problem is a `ManifestError` naming file and field."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: unreadable ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
        return cls.parse(raw, source=str(path))

    @classmethod
    def parse(cls, raw: Any, *, source: str = "manifest") -> Self:
        if not isinstance(raw, dict):
            raise ManifestError(f"{source}: expected a JSON object, got {type(raw).__name__}")
        found = raw.get("schema_version")
        if found != SCHEMA_VERSION:
            shown = "missing" if found is None else repr(found)
            raise ManifestError(
                f"{source}: field schema_version is {shown}; this DarkHorse reads version "
                f"{SCHEMA_VERSION} (train again, or release it with the DarkHorse that trained it)"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"field {'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
            raise ManifestError(f"{source}: {problems}{more}") from None

    def write(self, path: str | Path) -> Path:
        """Write the manifest atomically (a reader never sees half a file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    def released(self, source: str = "manifest") -> BentoRelease:
        if self.release is None:
            raise ManifestError(f"{source}: field release is null: not built by `darkhorse release`")
        return self.release

    def with_release(self, release: BentoRelease) -> Self:
        return self.model_copy(update={"release": release})


class ReleaseManifest(_ManifestFile):
    """One training run, as training leaves it and as release and serving read it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str = Field(min_length=1, description="YYYYmmddHHMMSS-<config hash prefix>")
    config_path: str = Field(description="The config the models were trained with.")
    config_hash: str = Field(min_length=1)
    data_snapshot: str
    marts_snapshot: str
    last_week: date = Field(description="Start of the last closed week the models saw.")
    horizon: int = Field(ge=1)
    quantiles: list[float] = Field(min_length=1)
    n_series: int = Field(ge=0)
    backtest_windows: list[date] = Field(description="Cutoffs of the evaluation windows.")
    metrics: dict[str, dict[str, float]] = Field(
        description="Backtest metrics of the evaluation windows: model -> metric -> value."
    )
    models: PinnedModels | None = Field(None, description="Saved models; None when not saved.")
    release: BentoRelease | None = Field(None, description="Set by `darkhorse release`.")

    # ---------------------------------------------------------------------------- steps
    def pinned(self, source: str = "manifest") -> PinnedModels:
        """The saved model tags; a run trained without saving its models has none."""
        if self.models is None:
            raise ManifestError(
                f"{source}: field models is null: the run saved no models (trained with --no-save?)"
            )
        return self.models

    def with_models(self, models: PinnedModels) -> ReleaseManifest:
        return self.model_copy(update={"models": models})

    def store_metadata(self) -> dict[str, Any]:
        """The run as BentoML model metadata (JSON types, no nulls, no tags: they are the
        models' own). `ReleaseManifest.parse` reads it back."""
        return self.model_dump(mode="json", exclude={"models", "release"}, exclude_none=True)


class LoadManifest(_ManifestFile):
    """One load training run (`load_train.json`), and in a release `load_release.json`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str = Field(min_length=1, description="The training run's version (the weekly run's when both train).")
    config_path: str = Field(description="The config the model was trained with.")
    config_hash: str = Field(min_length=1)
    grain: str = Field(min_length=1)
    target: str = Field(min_length=1)
    horizon: int = Field(ge=1, description="Intervals the model forecasts ahead.")
    series: int = Field(ge=1)
    last_interval: str = Field(description="Start of the last interval the model saw (UTC).")
    weights: dict[str, float]
    held_out_mase: dict[str, float | None] = Field(description="Member and ensemble MASE on the held-out day.")
    tag: str | None = Field(None, description="The saved model's tag; None when not saved.")
    release: BentoRelease | None = Field(None, description="Set by `darkhorse release`.")

    @field_validator("tag")
    @classmethod
    def _pinned(cls, tag: str | None) -> str | None:
        return None if tag is None else _pinned_tag(tag)

    def pinned(self, source: str = "manifest") -> str:
        if self.tag is None:
            raise ManifestError(f"{source}: field tag is null: the run saved no model (trained with --no-save?)")
        return self.tag


__all__ = [
    "LOAD_RELEASE_FILE",
    "LOAD_TRAIN_FILE",
    "RELEASE_FILE",
    "SCHEMA_VERSION",
    "TRAIN_FILE",
    "BentoRelease",
    "LoadManifest",
    "ManifestError",
    "Part",
    "PinnedModels",
    "ReleaseManifest",
]
