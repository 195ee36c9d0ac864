"""One build at a time per data folder: `data_dir/build.lock`.

The lock is an exclusive `flock` on the file, which the kernel drops when its holder exits,
however it exits: a lock left by a killed build is stale and the next build takes it over.
While held, the file says who holds it (pid, start time, host) so that a second build can say
"another build is running (pid N since T)".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from darkhorse.core.config import Config
from darkhorse.core.errors import DarkHorseError

LOCK_FILE = "build.lock"


class BuildLocked(DarkHorseError, RuntimeError):
    """Another build holds the data folder's lock; nothing was changed."""


def lock_path(config: Config) -> Path:
    return config.data_dir / LOCK_FILE


def _holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) else {}


@contextlib.contextmanager
def build_lock(config: Config, *, progress=print) -> Iterator[dict[str, Any]]:
    """Hold the data folder's build lock for the block; raise BuildLocked if another live
    process holds it. Yields what the file now says (pid, started_at, host, took_over)."""
    path = lock_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            pid = holder.get("pid", "unknown")
            since = holder.get("started_at", "an unknown time")
            raise BuildLocked(
                f"another build is running (pid {pid} since {since}) on {config.data_dir}; "
                f"wait for it to finish (lock: {path})"
            ) from None
        stale = _holder(fd)
        me = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
        }
        if stale.get("pid"):
            me["took_over"] = {k: stale.get(k) for k in ("pid", "started_at")}
            progress(
                f"taking over a stale build lock (pid {stale.get('pid')} since "
                f"{stale.get('started_at')} is gone)"
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(me) + "\n").encode())
        os.fsync(fd)
        try:
            yield me
        finally:
            # emptied, not removed: removing it would let a build that opened the old file
            # and one that creates a new one both hold "the" lock
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
