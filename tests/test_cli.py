from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkhorse.app.cli import app

from .conftest import write_config

DARKHORSE = Path(sys.executable).with_name("darkhorse")

runner = CliRunner()


@pytest.mark.parametrize("verb", [[], ["build"], ["gate"], ["train"], ["config"], ["dbt"], ["data"], ["data", "synth"]])
def test_every_verb_has_help(verb):
    result = runner.invoke(app, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if verb and verb[0] != "data":
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


def test_the_console_script_prints_one_line_not_a_traceback(tmp_path):
    """An error DarkHorse explains leaves the console script as one red line and an exit code:
    1 for a step that failed (no published panel), 2 for a bad input (an invalid config)."""
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(tmp_path / "s.csv")}])
    proc = subprocess.run([str(DARKHORSE), "train", "--config", str(cfg.path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: no published panel at ") and line.endswith("run `darkhorse build` first")

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: a, kind: sales, path: a.csv}]\npanel: {horizon_weeks: -1}\n")
    proc = subprocess.run([str(DARKHORSE), "backtest", "--config", str(bad)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "panel.horizon_weeks" in proc.stderr


def test_error_text_is_printed_literally(tmp_path):
    """A message with rich markup characters (a path like [bold]/x) is printed as it is."""
    cfg = write_config(tmp_path / "[bold]x", [{"name": "s", "kind": "sales", "path": "s.csv"}])
    result = runner.invoke(app, ["train", "--config", str(cfg.path)])
    assert result.exit_code == 1
    assert "[bold]x" in result.output.replace("\n", "")


def test_a_bad_synth_argument_exits_2_naming_it(tmp_path):
    result = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "r.jsonl"), "--rows", "0"])
    assert result.exit_code == 2, result.output
    assert "rows must be >= 1" in result.output and not (tmp_path / "r.jsonl").exists()


def test_a_small_catalogue_is_told_that_its_hot_seller_share_is_not_the_configured_one():
    from darkhorse.app.cli import small_catalogue_note

    weeks = [{"week_start": "2011-01-03", "candidates": 3, "hot_sellers": 1},
             {"week_start": "2011-01-10", "candidates": 4, "hot_sellers": 1}]
    note = small_catalogue_note({"quantile": 0.95, "prevalence_mean": 0.29, "per_week": weeks})
    assert note is not None and "29% of the eligible items" in note and "as few as 3" in note
    # a catalogue where the top 5% is 5% says nothing
    big = [{"week_start": "2011-01-03", "candidates": 400, "hot_sellers": 20}]
    assert small_catalogue_note({"quantile": 0.95, "prevalence_mean": 0.05, "per_week": big}) is None
    assert small_catalogue_note({"quantile": 0.95, "prevalence_mean": None, "per_week": []}) is None


def test_a_weekly_source_of_daily_rows_is_told_so():
    from darkhorse.app.cli import several_dates_note

    note = several_dates_note("shop", {"weekly_item_weeks_with_several_dates": {"item_weeks": 13843, "of": 14350}})
    assert note is not None and "source 'shop' is declared weekly, yet 13,843 of 14,350 item-weeks" in note
    assert "`granularity: daily`" in note
    assert several_dates_note("shop", {"weekly_item_weeks_with_several_dates": {"item_weeks": 0, "of": 10}}) is None
    assert several_dates_note("reviews", {}) is None
