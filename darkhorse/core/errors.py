"""The one error type DarkHorse raises on purpose.

Every module's errors derive from `DarkHorseError` (and, where callers expect it, from the
builtin they are: a bad value is also a `ValueError`). The CLI catches this one type and
prints its message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DarkHorseError(Exception):
    """A failure DarkHorse explains: its message names the file, field or step and the reason."""
