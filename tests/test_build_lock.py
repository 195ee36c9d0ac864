"""One build per data folder: a second one is refused naming the holder; a dead holder's lock
is taken over."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from darkhorse.app.lock import BuildLocked, build_lock, lock_path
from tests.conftest import write_config

HOLDER = """
import sys, time
from darkhorse.core.config import load_config
from darkhorse.app.lock import build_lock
with build_lock(load_config(sys.argv[1]), progress=lambda *_: None):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def cfg(tmp_path):
    return write_config(tmp_path, [{"name": "s", "kind": "sales", "path": "x.csv"}])


def test_a_second_build_is_refused_naming_the_holder_then_the_lock_is_taken_over(cfg):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(cfg.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        running = rf"another build is running \(pid {proc.pid} since 20\d\d-"
        with pytest.raises(BuildLocked, match=running) as err, build_lock(cfg):
            pass
        assert str(cfg.data_dir) in str(err.value)
        proc.kill()  # SIGKILL: no cleanup runs; the file still names the dead holder
        proc.wait()
        assert json.loads(lock_path(cfg).read_text())["pid"] == proc.pid
        said: list[str] = []
        with build_lock(cfg, progress=said.append) as me:
            assert me["took_over"]["pid"] == proc.pid
            assert json.loads(lock_path(cfg).read_text())["pid"] == me["pid"]
        assert said and f"pid {proc.pid}" in said[0] and "stale" in said[0]
        assert lock_path(cfg).read_text() == ""  # released: the next build starts clean
        with build_lock(cfg, progress=said.append) as again:
            assert "took_over" not in again
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_lock_is_released_when_the_build_fails(cfg):
    with pytest.raises(RuntimeError), build_lock(cfg):
        raise RuntimeError("dbt failed")
    t0 = time.monotonic()
    with build_lock(cfg):
        pass
    assert time.monotonic() - t0 < 1
