"""The floors of the code point down only (docs/ARCHITECTURE.md, contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from darkhorse.core.errors import DarkHorseError

ROOT = Path(__file__).resolve().parents[1]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def test_import_contracts_kept() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_a_back_edge_breaks_the_contract(tmp_path: Path) -> None:
    """The contract can fail: a copy of the tree where the foundation imports training is refused."""
    for name in ("darkhorse", "training", "expectations", "synthetic"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(tmp_path / name)], check=True)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    bad = tmp_path / "darkhorse" / "core" / "sql.py"
    bad.write_text(bad.read_text() + "\nfrom training import backtest  # noqa\n")
    env_path = f"{tmp_path}"
    run = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from importlinter.cli import lint_imports; sys.exit(lint_imports())", env_path],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode != 0
    assert "darkhorse.core.sql -> training.backtest" in run.stdout


@pytest.mark.parametrize(
    "module, name",
    [
        ("darkhorse.core.config", "ConfigError"),
        ("darkhorse.core.publish", "PublishError"),
        ("darkhorse.core.features", "FeatureStoreError"),
        ("darkhorse.core.schema", "SchemaError"),
        ("darkhorse.serving.allocation", "AllocationError"),
        ("darkhorse.serving.engine", "RequestError"),
        ("darkhorse.app.build", "BuildError"),
        ("darkhorse.app.build", "SourceError"),
        ("darkhorse.app.release", "ReleaseError"),
        ("training.backtest", "BacktestError"),
        ("training.history", "HistoryError"),
        ("training.dataset", "TrainingSetError"),
        ("training.tune", "TuneError"),
        ("expectations.gate", "GateError"),
    ],
)
def test_every_error_is_a_darkhorse_error(module: str, name: str) -> None:
    import importlib

    assert issubclass(getattr(importlib.import_module(module), name), DarkHorseError)
