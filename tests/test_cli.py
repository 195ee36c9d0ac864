from __future__ import annotations

import pytest
from typer.testing import CliRunner

from darkhorse.app.cli import app

from .conftest import write_config

runner = CliRunner()


@pytest.mark.parametrize("verb", [[], ["build"], ["gate"], ["train"], ["config"], ["dbt"], ["data"], ["data", "synth"]])
def test_every_verb_has_help(verb):
    result = runner.invoke(app, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if verb and verb != ["data"]:
        assert "--config" in result.output


def test_train_without_a_published_panel_says_to_build_first(tmp_path):
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(tmp_path / "s.csv")}])
    for verb in ("train", "backtest"):
        result = runner.invoke(app, [verb, "--config", str(cfg.root / "darkhorse.yaml")])
        assert result.exit_code == 1, result.output
        assert "darkhorse build" in result.output


def test_bad_config_exits_2_with_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("sources: [{name: a, kind: sales, path: a.csv}]\npanel: {lookback_weeks: 0}\n")
    result = runner.invoke(app, ["config", "--config", str(p)])
    assert result.exit_code == 2
    assert "panel.lookback_weeks" in result.output


def test_config_json_is_what_dbt_receives(repo):
    import json

    result = runner.invoke(app, ["config", "--json", "--config", str(repo / "darkhorse.yaml")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["horizon_weeks"] == 12
    assert "order_lines" in payload["raw_sources"]
