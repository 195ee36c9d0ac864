"""The synthetic reviews' planted graph and text effects (`spread=True`): surges spread to
co-reviewed items of the category, reviews near an onset carry a buzz phrase, the ground truth
is written beside the file, and the default output is byte for byte what it was before."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from synthetic.generator import SynthError, generate_reviews

# sha256 of the default output, recorded before the option existed
DEFAULT_BYTES = {
    (20_000, 3, 150, 60): "465cb4100d7bd466f79e713256ec5e7bcc6aa34040bd6aa3573d6a985358176b",
    (5_000, 0, None, 156): "4960c1d8c3431e4471c9a512230052b95eee1e2698539e78b93cc232e543ced7",
}
BUZZ = ("Everyone is talking", "all over my feed", "before it sells out", "everybody wants", "viral")


@pytest.mark.parametrize(("args", "digest"), list(DEFAULT_BYTES.items()))
def test_the_default_output_is_unchanged(tmp_path, args, digest):
    rows, seed, n_items, weeks = args
    out = tmp_path / "r.jsonl"
    summary = generate_reviews(out, rows=rows, seed=seed, n_items=n_items, weeks=weeks)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert "truth" not in summary and not (tmp_path / "r.truth.parquet").exists()


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    out = tmp_path_factory.mktemp("spread") / "r.jsonl"
    summary = generate_reviews(out, rows=40_000, seed=5, n_items=200, weeks=80, spread=True)
    rows = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    rows["week"] = (rows["timestamp"] - rows["timestamp"].min()) // (7 * 86_400_000)
    start_ms = int(pd.Timestamp(summary["start"], tz="UTC").value // 1_000_000)
    rows["t_week"] = (rows["timestamp"] - start_ms) / (7 * 86_400_000)
    return summary, rows, pd.read_parquet(summary["truth"])


def test_surges_spread_to_co_reviewed_items(spread):
    summary, rows, truth = spread
    followers = truth[truth["is_follower"]]
    assert summary["spread_items"] == len(followers) > 0
    assert followers["surging"].all()
    onset = truth.set_index("parent_asin")["onset_week"]
    lags = followers["onset_week"].to_numpy() - onset.loc[followers["leader_asin"]].to_numpy()
    assert (lags >= 3).all() and (lags <= 9).all()
    users = rows.groupby("parent_asin")["user_id"].agg(set)
    shared = [len(users.get(f, set()) & users.get(lead, set()))
              for f, lead in zip(followers["parent_asin"], followers["leader_asin"], strict=True)]
    # pairs of random items of the catalogue share far fewer reviewers than leader and follower
    rng = np.random.default_rng(0)
    ids = users.index.to_numpy()
    random_pairs = [len(users[a] & users[b]) for a, b in rng.choice(ids, size=(200, 2)) if a != b]
    assert np.mean(shared) > 3 * max(np.mean(random_pairs), 0.1)

    # the link is there before the spread: most followers share two reviewers (an edge of the
    # product graph) with their leader before their own onset (0.68 with half the circle's share)
    before = rows[rows["t_week"] < rows["parent_asin"].map(followers.set_index("parent_asin")["onset_week"])]
    early = before.groupby("parent_asin")["user_id"].agg(set)
    pre = [len(early.get(f, set()) & set(rows.loc[(rows["parent_asin"] == lead) & (rows["t_week"] < o), "user_id"]))
           for f, lead, o in zip(followers["parent_asin"], followers["leader_asin"], followers["onset_week"], strict=True)]
    assert np.mean(np.array(pre) >= 2) > 0.8


def test_buzz_appears_only_around_an_onset(spread):
    _, rows, truth = spread
    is_buzz = rows["title"].str.contains("|".join(BUZZ))
    assert is_buzz.sum() > 20
    onset = truth.set_index("parent_asin")["onset_week"]
    rel = rows.loc[is_buzz, "t_week"].to_numpy() - onset.loc[rows.loc[is_buzz, "parent_asin"]].to_numpy()
    assert np.isfinite(rel).all() and (rel > -5).all() and (rel < 0.5).all()
    assert rows.loc[is_buzz, "text"].str.endswith(".").all()


def test_spread_must_be_a_bool(tmp_path):
    with pytest.raises(SynthError, match="spread"):
        generate_reviews(tmp_path / "r.jsonl", rows=10, spread="yes")


def test_data_synth_spread_writes_the_planted_effects_and_the_default_does_not(tmp_path):
    from typer.testing import CliRunner

    from darkhorse.app.cli import app

    runner = CliRunner()
    args = ["data", "synth", "--rows", "20000", "--seed", "5", "--items", "150", "--weeks", "60"]
    planted = runner.invoke(app, [*args, "--out", str(tmp_path / "p.jsonl"), "--spread"])
    assert planted.exit_code == 0, planted.output
    truth = pd.read_parquet(tmp_path / "p.truth.parquet")
    assert truth["is_follower"].sum() > 0
    assert f"planted: {int(truth['is_follower'].sum()):,} items a surge spreads to" in planted.output
    text = (tmp_path / "p.jsonl").read_text()
    assert any(b in text for b in BUZZ)
    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "d.jsonl")])
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "d.truth.parquet").exists() and "planted" not in plain.output
    assert not any(b in (tmp_path / "d.jsonl").read_text() for b in BUZZ)
    # the flag is the generator's option: the same arguments give the same bytes
    same = tmp_path / "same.jsonl"
    generate_reviews(same, rows=20_000, seed=5, n_items=150, weeks=60, spread=True)
    assert same.read_bytes() == (tmp_path / "p.jsonl").read_bytes()
