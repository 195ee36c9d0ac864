"""The Feast CLI from the feature_repo folder: `feast apply && feast materialize START END`.

A copy of `feature_repo/` sits in a project-shaped tmp folder (`feature_repo/`, `data/marts`
a symlink to a published snapshot, `darkhorse.yaml`), so the relative paths of
feature_store.yaml and the default marts folder of data_sources.py are what is tested.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from datetime import timedelta

import pandas as pd
import pytest
import yaml

from synthetic.marts import publish_snapshot
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_feast_cli_apply_and_materialize_from_the_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from feast import FeatureStore
    from feast.cli.cli import cli

    # importing feast turns DeprecationWarnings on; ibis under its DuckDB store trips one per read
    warnings.filterwarnings("ignore", message="fetch_arrow_table", category=DeprecationWarning)

    project = tmp_path / "project"
    repo = project / "feature_repo"
    shutil.copytree(REPO / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "darkhorse.yaml").write_text(yaml.safe_dump({"feast": {"ttl_weeks": 5}}))
    _, frames = publish_snapshot(project / "data", "run1", n_items=15, n_weeks=12, seed=5)
    monkeypatch.delenv("DARKHORSE_MARTS_DIR", raising=False)
    monkeypatch.delenv("DARKHORSE_FEATURE_TTL_WEEKS", raising=False)
    monkeypatch.chdir(tmp_path)  # `feast apply` changes the working directory: restored after
    names = ["entities", "data_sources", "feature_views", "feature_services"]
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    try:
        runner = CliRunner()
        res = runner.invoke(cli, ["--chdir", str(repo), "apply"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert "Created feature service training_v1" in res.output
        start = frames["item_weeks"]["available_at"].min().strftime("%Y-%m-%dT%H:%M:%S")
        end = (frames["item_weeks"]["available_at"].max() + pd.Timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
        res = runner.invoke(cli, ["--chdir", str(repo), "materialize", start, end], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    finally:
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)

    assert (project / "data" / "feast" / "registry.db").is_file()
    assert (project / "data" / "feast" / "online_store.db").is_file()
    store = FeatureStore(repo_path=str(repo))
    src = store.get_data_source("item_weeks")
    assert src.path == str(project / "data" / "marts" / "item_weeks.parquet")  # the link, absolute
    assert store.get_feature_view("item_weekly_activity").ttl == timedelta(weeks=5)  # from darkhorse.yaml
    items = list(frames["items"]["item_id"])
    got = store.get_online_features(
        features=store.get_feature_service("serving_v1"),
        entity_rows=[{"item_id": i} for i in items],
    ).to_df()
    latest = frames["item_weeks"].sort_values("available_at").groupby("item_id").tail(1).set_index("item_id")
    assert got.set_index("item_id").loc[items, "units"].tolist() == latest.loc[items, "units"].tolist()
