"""The training -> release -> serving hand-off: one typed, versioned ReleaseManifest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from darkhorse.app.release import model_card
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.manifest import (
    SCHEMA_VERSION,
    BentoRelease,
    ManifestError,
    PinnedModels,
    ReleaseManifest,
)

VERSION = "20260105120000-abcdef12"


def trained() -> ReleaseManifest:
    return ReleaseManifest(
        version=VERSION,
        config_path="/srv/darkhorse.yaml",
        config_hash="abcdef1234567890",
        data_snapshot="data-1",
        marts_snapshot="/srv/data/published/run-1",
        last_week=date(2011, 11, 28),
        horizon=12,
        quantiles=[0.1, 0.5, 0.9],
        n_series=2_500,
        backtest_windows=[date(2011, 8, 22), date(2011, 9, 19)],
        metrics={
            "seasonal_naive": {"mase": 1.21, "scaled_pinball": 0.61, "coverage_80": 0.7},
            "blend": {"mase": 0.84, "scaled_pinball": 0.42, "coverage_80": 0.79, "smape": 88.5},
            "statquant": {"mase": 0.97},
        },
    )


def released() -> ReleaseManifest:
    return trained().with_models(
        PinnedModels(forecaster=f"dh_forecaster:{VERSION}", hot_seller_classifier=f"dh_hot:{VERSION}")
    ).with_release(BentoRelease(bento="darkhorse", created_at=datetime(2026, 1, 5, 13, tzinfo=UTC), quantile_grid=50))


def test_round_trip_keeps_metrics_nested(tmp_path: Path) -> None:
    path = released().write(tmp_path / "release.json")
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert raw["metrics"]["blend"] == {"mase": 0.84, "scaled_pinball": 0.42, "coverage_80": 0.79, "smape": 88.5}
    assert not any("_" in k and k.endswith("mase") for k in raw)  # nothing flattened to "<model>_<metric>"
    assert raw["backtest_windows"] == ["2011-08-22", "2011-09-19"]
    back = ReleaseManifest.read(path)
    assert back == released()
    assert back.metrics["statquant"]["mase"] == pytest.approx(0.97)
    assert back.pinned().forecaster.endswith(f":{VERSION}")


def test_store_metadata_survives_the_bentoml_store() -> None:
    import bentoml

    meta = trained().store_metadata()
    with bentoml.models.create(f"dh_manifest_test:{VERSION}", metadata=meta) as ref:
        tag = str(ref.tag)
    stored = bentoml.models.get(tag).info.metadata
    assert stored["metrics"]["blend"]["mase"] == pytest.approx(0.84)
    assert ReleaseManifest.parse(dict(stored), source=tag) == trained()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.pop("schema_version"), "field schema_version is missing"),
        (lambda d: d.update(schema_version=2), "field schema_version is 2"),
        (lambda d: d.pop("horizon"), "field horizon: Field required"),
        (lambda d: d.update(horizon=0), "field horizon: Input should be greater than or equal to 1"),
        (lambda d: d["metrics"]["blend"].update(mase="low"), "field metrics.blend.mase"),
        (lambda d: d.update(blend_mase=0.9), "field blend_mase: Extra inputs are not permitted"),
        (lambda d: d["models"].update(forecaster="dh_forecaster:latest"), "field models.forecaster"),
        (lambda d: d["release"].update(quantile_grid=1), "field release.quantile_grid"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path: Path, edit, needle) -> None:
    raw = json.loads(released().model_dump_json())
    edit(raw)
    path = tmp_path / "release.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ManifestError) as info:
        ReleaseManifest.read(path)
    assert str(info.value).startswith(f"{path}: ")
    assert needle in str(info.value)
    assert isinstance(info.value, DarkHorseError)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"train\.json: not found"):
        ReleaseManifest.read(tmp_path / "train.json")
    bad = tmp_path / "release.json"
    bad.write_text('{"schema_version": 1,\n "version": }')
    with pytest.raises(ManifestError, match=r"release\.json: not JSON \(line 2"):
        ReleaseManifest.read(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ManifestError, match="expected a JSON object, got list"):
        ReleaseManifest.read(bad)


def test_steps_refuse_what_they_lack() -> None:
    with pytest.raises(ManifestError, match="field models is null: the run saved no models"):
        trained().pinned("out/train.json")
    with pytest.raises(ManifestError, match="field release is null"):
        trained().released()


def test_model_card_reads_the_nested_metrics() -> None:
    card = model_card(released())
    rows = [line for line in card.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert rows == [
        "| blend | 0.840 | 0.420 | 0.790 |",
        "| statquant | 0.970 | – | – |",
        "| seasonal_naive | 1.210 | 0.610 | 0.700 |",
    ]
    assert "Origins: 2011-08-22, 2011-09-19." in card
    assert f"`dh_forecaster:{VERSION}`" in card and "bentoml serve darkhorse:" + VERSION in card
    assert "2,500 items, trained through the week of 2011-11-28" in card
