"""`make clean` removes what builds, runs and dbt wrote, and keeps the raw data and the empty folder
a plain `dbt run` writes its candidate marts to (dbt_project/profiles.yml)."""

from __future__ import annotations

import shutil
import subprocess

from .conftest import REPO


def test_make_clean_keeps_the_raw_data_and_the_dbt_candidate_folder(tmp_path) -> None:
    # the Makefile and the file it reads, in a scratch tree laid out as after a build and a dbt run
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "darkhorse" / "core").mkdir(parents=True)
    shutil.copy(REPO / "darkhorse" / "core" / "process.env", tmp_path / "darkhorse" / "core" / "process.env")
    data = tmp_path / "data"
    (data / "raw" / "online_retail").mkdir(parents=True)
    (data / "raw" / "online_retail" / "online_retail.parquet").write_bytes(b"raw")
    (data / "candidates" / "dbt").mkdir(parents=True)
    (data / "candidates" / "dbt" / ".gitkeep").touch()
    (data / "candidates" / "dbt" / "item_weeks.parquet").write_bytes(b"candidate")
    (data / "candidates" / "20261206T000000Z").mkdir()
    (data / "published" / "20261206T000000Z").mkdir(parents=True)
    (data / "published" / "20261206T000000Z" / "item_weeks.parquet").write_bytes(b"published")
    (data / "marts").symlink_to("published/20261206T000000Z")
    (data / "darkhorse.duckdb").write_bytes(b"db")
    (tmp_path / "dbt_project" / "target").mkdir(parents=True)

    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin"})

    assert (data / "raw" / "online_retail" / "online_retail.parquet").read_bytes() == b"raw"
    assert sorted(p.name for p in data.iterdir()) == ["candidates", "raw"]
    # the tracked, empty folder stays: a plain `dbt run` after the clean has somewhere to write
    assert [p.name for p in (data / "candidates").iterdir()] == ["dbt"]
    assert [p.name for p in (data / "candidates" / "dbt").iterdir()] == [".gitkeep"]
    assert not (data / "marts").is_symlink()
    assert not (tmp_path / "dbt_project" / "target").exists()
    # what git tracks under data/ outside data/raw/ is that folder's .gitkeep only
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert [p for p in tracked if not p.startswith("data/raw/")] == ["data/candidates/dbt/.gitkeep"]
