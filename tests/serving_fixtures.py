"""A real trained release for the serving tests: the weekly-sales example built through dbt,
the gate and Feast (sqlite online store), trained with fast models, released as a bento in the
session's throwaway BentoML store."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from darkhorse.app.build import build
from darkhorse.core.config import Config, load_config
from tests.conftest import REPO, write_config

CSV = REPO / "examples" / "weekly_sales" / "weekly_sales.csv"
BIN = Path(sys.executable).parent


@dataclass
class Trained:
    config: Config
    root: Path
    train_info: dict
    release_tag: str
    release_dir: Path  # the bento's src folder

    @property
    def out(self) -> Path:
        return self.root / "out"


def run_cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "darkhorse"), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"darkhorse {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def make_release(tmp: Path) -> Trained:
    shutil.copy(CSV, tmp / "weekly_sales.csv")
    src = {"name": "weekly_sales", "kind": "sales", "path": str(tmp / "weekly_sales.csv"), "granularity": "weekly",
           "columns": {"item_id": "sku", "date": "week_ending", "quantity": "units_sold"}, "date_format": "%Y-%m-%d"}
    write_config(tmp, [src])
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["forecast"] = {"models": [{"model": "seasonal_naive"}, {"model": "moving_average"}, {"model": "statquant"}]}
    doc["backtest"] = {"n_windows": 2, "step_weeks": 4, "warmup_windows": 1}
    doc["hot_sellers"] = {"classifier": {"n_estimators": 20}}
    doc["training"] = {"out_dir": str(tmp / "out"), "model_prefix": "dh_serve"}
    doc["serving"] = {"bento": "dh-serve"}
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "darkhorse.yaml")
    build(cfg, features=True, progress=lambda *a, **k: None)
    run_cli("train", "--config", str(cfg.path))
    proc = run_cli("release", "--config", str(cfg.path))
    info = json.loads((tmp / "out" / "train.json").read_text())
    tag = f"dh-serve:{info['version']}"
    assert tag in proc.stdout
    release_dir = Path(os.environ["BENTOML_HOME"]) / "bentos" / "dh-serve" / info["version"] / "src"
    return Trained(cfg, tmp, info, tag, release_dir)


def import_service(release_dir: Path):
    """The built bento's service module, imported under a unique name."""
    name = f"darkhorse_release_service_{release_dir.parent.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, release_dir / "service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def asgi_app(module):
    """The service's ASGI app for an in-process client. BentoML registers its request metrics
    in prometheus_client's process-wide registry when an app first serves; a second app in the
    same test process (another module's release) would register them again and answer 500, so
    the previous app's BentoML collectors are dropped first."""
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(n.startswith("bentoml_") for n in names):
            REGISTRY.unregister(collector)
    return module.DarkHorse.to_asgi()


def bentoml_serve(tag: str, log_path: Path):
    """`bentoml serve TAG` on a free loopback port until the block ends; yields the base URL."""
    from tests.fixtures.servers import serve

    return serve(tag, log_path=log_path)
