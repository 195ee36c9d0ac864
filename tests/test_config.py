from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from darkhorse.core.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "darkhorse.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _base() -> dict:
    return {"sources": [{"name": "shop", "kind": "order_lines", "path": "lines.parquet"}]}


def test_default_config_loads_and_resolves_paths_against_its_directory():
    cfg = load_config(REPO / "darkhorse.yaml")
    assert cfg.panel.week_start == "monday"
    assert (cfg.panel.lookback_weeks, cfg.panel.horizon_weeks) == (4, 12)
    assert cfg.panel.hot_seller_quantile == 0.95
    src = cfg.sources[0]
    assert src.kind == "order_lines"
    assert Path(cfg.source_paths(src)[0]) == REPO / "data/raw/online_retail/online_retail.parquet"
    assert cfg.duckdb_path == REPO / "data/darkhorse.duckdb"


def test_the_shipped_members_are_the_code_defaults():
    """darkhorse.yaml spells the default ensemble out; a config without `forecast.models` gets the
    same members, the median XGBoost (and its long-window twin) kept out of the growth blend in both."""
    shipped = load_config(REPO / "darkhorse.yaml").forecast.models
    from darkhorse.core.config import ForecastConfig

    assert [m.model_dump() for m in shipped] == [m.model_dump() for m in ForecastConfig().models]
    growth = {m.name: m.growth for m in shipped if m.enabled}
    assert growth == {"seasonal_naive": True, "naive": True, "xgboost": True, "xgboost_median": False,
                      "xgboost_long": False, "theta": True}
    # only the long-window booster waits for a long panel
    assert {m.name: m.min_history_weeks for m in shipped if m.min_history_weeks} == {"xgboost_long": 104}


def test_every_shipped_setting_is_the_code_default():
    """darkhorse.yaml spells the chosen defaults out; a config of your own that leaves a setting out
    gets the same value (hot_sellers.min_labelled_origins was 2 in the file and 1 in the code)."""
    from darkhorse.core.config import Config

    shipped = load_config(REPO / "darkhorse.yaml")
    doc = yaml.safe_load((REPO / "darkhorse.yaml").read_text())
    bare = Config.model_validate({k: doc[k] for k in ("project", "sources", "paths")})

    def differences(a, b, at):
        if isinstance(a, BaseModel):
            return [d for k in type(a).model_fields for d in differences(getattr(a, k), getattr(b, k), f"{at}.{k}")]
        return [] if a == b else [f"{at}: {a!r} in darkhorse.yaml, {b!r} by default"]

    sections = [k for k in type(shipped).model_fields if k not in ("project", "sources", "paths", "root", "path")]
    assert {"panel", "forecast", "backtest", "blend", "hot_sellers", "serving"} <= set(sections)
    found = [d for k in sections for d in differences(getattr(shipped, k), getattr(bare, k), k)]
    assert not found, "\n".join(found)


def test_dbt_project_defaults_equal_the_default_config():
    """`dbt run` alone (dbt_project.yml vars) builds what `darkhorse build` builds."""
    cfg = load_config(REPO / "darkhorse.yaml")
    dbt_vars = yaml.safe_load((REPO / "dbt_project/dbt_project.yml").read_text())["vars"]
    ours = cfg.dbt_vars()
    for key in ("week_start", "lookback_weeks", "horizon_weeks", "hot_seller_quantile",
                "min_past_activity", "growth_floor", "valid_from", "valid_until"):
        assert str(dbt_vars[key]) == str(ours[key]) or float(dbt_vars[key]) == float(ours[key]), key
    d_src, o_src = dbt_vars["raw_sources"]["order_lines"], ours["raw_sources"]["order_lines"]
    for key in ("columns", "timestamp_format", "cancellation_prefix", "non_product_codes", "timezone"):
        assert d_src[key] == o_src[key], key
    # same file: dbt's default path is relative to dbt_project/
    assert (REPO / "dbt_project" / d_src["paths"][0]).resolve() == Path(o_src["paths"][0])


def test_unknown_key_is_named(tmp_path):
    doc = _base() | {"panel": {"horizon_weeks": 12, "horizon": 8}}
    with pytest.raises(ConfigError, match=r"panel\.horizon: unknown key"):
        load_config(_write(tmp_path, doc))


def test_wrong_value_is_named(tmp_path):
    doc = _base() | {"panel": {"hot_seller_quantile": 1.5}}
    with pytest.raises(ConfigError, match=r"panel\.hot_seller_quantile"):
        load_config(_write(tmp_path, doc))


def test_blend_settings_are_checked_when_the_config_loads(tmp_path):
    """A bad `blend:` section is refused with the config, not later when the first blend is fitted."""
    doc = _base() | {"blend": {"horizon_buckets": [8, 4]}}
    with pytest.raises(ConfigError, match=r"blend\.horizon_buckets.*increasing"):
        load_config(_write(tmp_path, doc))
    doc = _base() | {"blend": {"shrinkage": -1}}
    with pytest.raises(ConfigError, match=r"blend\.shrinkage"):
        load_config(_write(tmp_path, doc))


def test_an_ensemble_whose_every_member_is_kept_out_of_the_blend_is_refused(tmp_path):
    """`blend: false` keeps a member out of the blend; with no member left in it the config names why."""
    models = [{"model": "naive", "blend": False}, {"model": "seasonal_naive", "blend": False}]
    doc = _base() | {"forecast": {"models": models}}
    with pytest.raises(ConfigError, match=r"at least one enabled model must feed the blend"):
        load_config(_write(tmp_path, doc))
    models[0]["blend"] = True
    assert [m.blend for m in load_config(_write(tmp_path, doc)).forecast.enabled()] == [True, False]


def test_wrong_week_start_is_named(tmp_path):
    doc = _base() | {"panel": {"week_start": "someday"}}
    with pytest.raises(ConfigError, match=r"panel\.week_start"):
        load_config(_write(tmp_path, doc))


def test_unknown_source_kind_is_named(tmp_path):
    doc = {"sources": [{"name": "x", "kind": "tweets", "path": "a.csv"}]}
    with pytest.raises(ConfigError, match=r"sources\.0"):
        load_config(_write(tmp_path, doc))


def test_unknown_column_role_is_named(tmp_path):
    doc = {"sources": [{"name": "x", "kind": "sales", "path": "a.csv", "columns": {"sku": "Item"}}]}
    with pytest.raises(ConfigError, match=r"columns\.sku: unknown key"):
        load_config(_write(tmp_path, doc))


def test_two_sources_of_one_kind_are_refused(tmp_path):
    doc = {"sources": [
        {"name": "a", "kind": "sales", "path": "a.csv"},
        {"name": "b", "kind": "sales", "path": "b.csv"},
    ]}
    with pytest.raises(ConfigError, match="more than one source of kind"):
        load_config(_write(tmp_path, doc))


def test_request_log_alone_is_a_config_but_no_source_is_not(tmp_path):
    doc = {"sources": [{"name": "lb", "kind": "request_log", "path": "r.csv"}]}
    assert [s.kind for s in load_config(_write(tmp_path, doc)).sources] == ["request_log"]
    with pytest.raises(ConfigError, match="sources"):
        load_config(_write(tmp_path, {"sources": []}))


def test_format_is_inferred_or_must_be_given(tmp_path):
    cfg = load_config(_write(tmp_path, {"sources": [
        {"name": "r", "kind": "amazon_reviews", "path": "x.jsonl.gz"},
        {"name": "s", "kind": "sales", "path": ["a.csv", "b.csv"]},
        {"name": "o", "kind": "order_lines", "path": "Online Retail.XLSX"},
    ]}))
    assert [s.resolved_format() for s in cfg.sources] == ["jsonl", "csv", "excel"]
    with pytest.raises(ConfigError, match=r"cannot tell the format of 'a\.txt'; set format: parquet, csv, jsonl or excel"):
        load_config(_write(tmp_path, {"sources": [{"name": "s", "kind": "sales", "path": "a.txt"}]}))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_hash_changes_with_any_value(tmp_path):
    a = load_config(_write(tmp_path, _base()))
    b = load_config(_write(tmp_path, _base() | {"panel": {"horizon_weeks": 8}}))
    assert a.config_hash() != b.config_hash()
