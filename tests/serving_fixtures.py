"""A real trained release for the serving tests: the weekly-sales example built through dbt,
the gate and Feast (sqlite online store) once per session (tests/fixtures/weekly_sales.py),
trained with fast models, released as a bento in the session's throwaway BentoML store."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from darkhorse.core.config import Config
from tests.fixtures.weekly_sales import Built, config_reading

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


def release_src(bento: str, version: str) -> Path:
    """The src folder of bento `bento:version` in the session's BentoML store."""
    return Path(os.environ["BENTOML_HOME"]) / "bentos" / bento / version / "src"


def release_config(built: Built, tmp: Path) -> Config:
    """The serving release's config in `tmp`: fast members on `built`, outputs in `tmp / "out"`,
    released as `dh-serve`."""
    return config_reading(
        built, tmp,
        forecast={"models": [{"model": "seasonal_naive"}, {"model": "moving_average"}, {"model": "statquant"}]},
        # no blend-only warm-up origins: nothing here tests the blend's warm-up
        backtest={"n_windows": 2, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0},
        hot_sellers={"classifier": {"n_estimators": 20}},
        training={"out_dir": str(tmp / "out"), "model_prefix": "dh_serve"},
        serving={"bento": "dh-serve"},
    )


def make_release(built: Built, tmp: Path) -> Trained:
    """Train fast members on the shared weekly-sales build and release them as `dh-serve`."""
    cfg = release_config(built, tmp)
    run_cli("train", "--config", str(cfg.path))
    proc = run_cli("release", "--config", str(cfg.path))
    info = json.loads((tmp / "out" / "train.json").read_text())
    tag = f"dh-serve:{info['version']}"
    assert tag in proc.stdout
    return Trained(cfg, tmp, info, tag, release_src("dh-serve", info["version"]))


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
