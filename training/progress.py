"""Progress of long steps: a live bar on a terminal, plain lines in a log file, or nothing.

A live bar (rich) redraws one line in place, which a log file cannot show: written to a file it
appears only once the step has ended. When standard output is not a terminal (`make train >
train.log`, a CI job, a scheduler), progress comes instead as plain lines on standard error: one
when a task starts, then at most one every `LOG_INTERVAL` seconds, and one when it completes.
Each names the task, its count, the step it has just done and the time since the task started.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# seconds between two progress lines in a log file
LOG_INTERVAL = 15.0


class _Silent:
    def add_task(self, *a, **k) -> int:
        return 0

    def update(self, *a, **k) -> None:
        pass

    def advance(self, *a, **k) -> None:
        pass


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


class LogProgress:
    """The part of rich's `Progress` the trainers use (`add_task`, `update`, `advance`),
    written as lines: `progress backtest 12/63 (19%) 2011-08-08 xgboost, 0:01:23`."""

    def __init__(self, stream: IO[str] | None = None, interval: float | None = None) -> None:
        self.stream = stream
        self.interval = LOG_INTERVAL if interval is None else interval
        self._tasks: list[dict] = []

    def add_task(self, description: str, total: float | None = None, **_: object) -> int:
        now = time.monotonic()
        self._tasks.append({"name": description, "now": "", "total": total, "done": 0.0,
                            "start": now, "last": now})
        self._line(self._tasks[-1], now)
        return len(self._tasks) - 1

    def update(self, task: int, *, description: str | None = None, advance: float = 0.0,
               completed: float | None = None, total: float | None = None, **_: object) -> None:
        t = self._tasks[task]
        if description is not None:
            t["now"] = description
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["done"] = completed
        if advance:
            self.advance(task, advance)

    def advance(self, task: int, advance: float = 1.0) -> None:
        t = self._tasks[task]
        t["done"] += advance
        now = time.monotonic()
        finished = t["total"] is not None and t["done"] >= t["total"]
        if finished or now - t["last"] >= self.interval:
            t["last"] = now
            self._line(t, now)

    def _line(self, t: dict, now: float) -> None:
        done = f"{t['done']:g}"
        if t["total"]:
            done += f"/{t['total']:g} ({100 * t['done'] / t['total']:.0f}%)"
        what = t["now"].removeprefix(t["name"]).strip()  # "final fit xgboost" under "final fit"
        stream = self.stream or sys.stderr
        stream.write(f"progress {t['name']} {done}{' ' + what if what else ''}, {_clock(now - t['start'])}\n")
        stream.flush()


@contextlib.contextmanager
def progress_bar(enabled: bool = True, *, console: Console | None = None) -> Iterator[Progress | LogProgress | _Silent]:
    """A live bar when `console` (default: standard output) is a terminal, else `LogProgress`
    lines on standard error; nothing when not `enabled`."""
    if not enabled:
        yield _Silent()
        return
    console = console or Console()
    if not console.is_terminal:
        yield LogProgress()
        return
    with Progress(
        TextColumn("[bold]{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False, console=console,
    ) as bar:
        yield bar
