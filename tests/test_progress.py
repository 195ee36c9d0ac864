"""Progress of long steps when the output is a log file: dated lines, not a bar drawn at the end."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from benchmarks.accuracy import panels as P
from darkhorse.core.config import ModelSpec, load_config
from training.backtest import run_backtest
from training.progress import LogProgress, _Silent, progress_bar

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^progress (?P<task>.+?) (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)(?P<now> .*)?, \d+:\d\d:\d\d$")


def test_a_terminal_gets_the_live_bar_a_file_gets_lines_and_disabled_gets_nothing():
    with progress_bar(console=Console(file=io.StringIO(), force_terminal=True)) as bar:
        assert isinstance(bar, Progress)
    with progress_bar(console=Console(file=io.StringIO(), force_terminal=False)) as bar:
        assert isinstance(bar, LogProgress)
    with progress_bar(False, console=Console(file=io.StringIO(), force_terminal=True)) as bar:
        assert isinstance(bar, _Silent)


def test_lines_come_at_the_start_at_most_once_per_interval_and_at_the_end():
    out = io.StringIO()
    bar = LogProgress(stream=out, interval=3600.0)
    task = bar.add_task("final fit", total=4)
    for name in ("naive", "theta", "xgboost", "hot-seller classifier"):
        bar.update(task, description=f"final fit {name}")
        bar.advance(task)
    lines = out.getvalue().splitlines()
    # the interval is an hour: the start and the completed task only
    assert [LINE.match(x).group("done", "total", "pct") for x in lines] == [("0", "4", "0"), ("4", "4", "100")]
    assert LINE.match(lines[1]).group("task", "now") == ("final fit", " hot-seller classifier")

    out = io.StringIO()
    bar = LogProgress(stream=out, interval=0.0)
    task = bar.add_task("backtest", total=3)
    for k in range(3):
        bar.update(task, description=f"2011-0{k + 1}-03 naive")
        bar.advance(task)
    done = [int(LINE.match(x).group("done")) for x in out.getvalue().splitlines()]
    assert done == [0, 1, 2, 3]


def test_a_backtest_written_to_a_file_reports_each_step_as_it_goes(capsys, monkeypatch):
    """The real backtest, its standard output not a terminal (as under pytest, or `> train.log`):
    the progress arrives as lines on standard error, counting to the backtest's last step."""
    p = P.weekly_sales()
    panel = P.Panel(p.name, P.restrict(p.history, P.sample_ids(p.history, 20)), p.panel, p.description)
    cfg = load_config(REPO / "darkhorse.yaml")
    cfg = cfg.model_copy(update={
        "backtest": cfg.backtest.model_copy(update={"n_windows": 2, "warmup_windows": 1, "blend_warmup_windows": 0}),
        "hot_sellers": cfg.hot_sellers.model_copy(update={"classifier": {"n_estimators": 10, "max_depth": 2, "device": "cpu"}}),
    })
    specs = [ModelSpec(model="naive"), ModelSpec(model="seasonal_naive")]
    monkeypatch.setattr("training.progress.LOG_INTERVAL", 0.0)  # a line per step
    result = run_backtest(cfg, history=panel.history, specs=specs, show_progress=True)
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.startswith("progress ")]
    steps = len(result.cutoffs) * (len(specs) + 2)  # each member, the blend, the hot sellers
    matched = [LINE.match(x) for x in lines]
    assert all(matched), lines
    assert {m.group("task") for m in matched} == {"backtest"}
    assert [int(m.group("done")) for m in matched] == list(range(steps + 1))
    assert int(matched[-1].group("total")) == steps and matched[-1].group("pct") == "100"
    assert matched[1].group("now").strip().endswith("naive")
    assert "━" not in captured.out + captured.err  # no bar drawn into the file


def test_the_command_line_writes_progress_lines_to_a_log_file(tmp_path):
    """`darkhorse ... > log 2>&1`: the progress lines reach the file while the command runs,
    from the same code as above, with no terminal at all."""
    code = ("from training.progress import progress_bar\n"
            "with progress_bar() as bar:\n"
            "    t = bar.add_task('backtest', total=2)\n"
            "    for k in range(2): bar.update(t, description=f'step {k}'); bar.advance(t)\n")
    log = tmp_path / "run.log"
    with log.open("w") as f:
        subprocess.run([sys.executable, "-c", code], stdout=f, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    lines = log.read_text().splitlines()
    assert [LINE.match(x).group("done") for x in lines] == ["0", "2"], lines


@pytest.mark.parametrize("total", [None, 0])
def test_a_task_without_a_total_counts_without_a_percentage(total):
    out = io.StringIO()
    bar = LogProgress(stream=out, interval=0.0)
    task = bar.add_task("reading", total=total)
    bar.advance(task)
    assert out.getvalue().splitlines()[-1].startswith("progress reading 1, ")
