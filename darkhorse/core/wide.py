"""Wide sales tables: one row per item, one column per period (`W0 ... W51`, `d_1 ... d_1941`).

A `sales` source with `wide:` names its period columns by a glob (`periods: "W*"`; `*` is any
text, `?` one character, matched against the whole column name, case-sensitive). What period a
column holds is read from its name, by one rule for the build (dbt, through the vars computed
here) and for the accuracy suite's panel files:

- with `first_date`: the last number in the name counts periods (`W0`, `W1`, ... or `d_1`,
  `d_2`, ...). The smallest number among the period columns is dated `first_date`, and each
  next number one period later (a day, or a week with `granularity: weekly`). Gaps in the
  numbers are periods without a column. The columns' order in the file does not matter.
- without `first_date`: each period column's name is its date (ISO 8601, or the source's
  `date_format`), as in a pivot table exported with dates as headers.

Each filled cell is one row of the long layout and a blank cell none, so a wide table builds
the panel its melted long form builds: an item's history starts at its first filled cell (a zero
included) and weeks without a row count as zero from there on. A cell that is not a number, or
is negative, is quarantined with the build's reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from darkhorse.core.errors import DarkHorseError

# the last run of digits of a column name (RE2 and Python read it alike)
NUMBER_PATTERN = r"(\d+)\D*$"
_SPECIAL = set(".^$+{}[]()|\\")


class WideLayoutError(DarkHorseError, ValueError):
    """A wide table's period columns cannot be read as configured; the message names them."""


def glob_regex(pattern: str) -> str:
    """The regular expression (full match, RE2 and Python alike) of a column glob."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch in _SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def period_columns(columns: Iterable[str], pattern: str) -> list[str]:
    """The columns the glob names, in the order given."""
    regex = re.compile(glob_regex(pattern))
    return [c for c in columns if regex.fullmatch(c)]


def period_numbers(names: Sequence[str]) -> dict[str, int]:
    """Each period column's number (the last number in its name); refused when a name holds
    none or two names share one."""
    numbers: dict[str, int] = {}
    seen: dict[int, str] = {}
    finder = re.compile(NUMBER_PATTERN)
    for name in names:
        found = finder.search(name)
        if found is None:
            raise WideLayoutError(
                f"period column {name!r} holds no number to count periods by; with first_date the "
                "last number of each name counts the periods (W0, W1, ... or d_1, d_2, ...)"
            )
        n = int(found.group(1))
        if n in seen:
            raise WideLayoutError(
                f"period columns {seen[n]!r} and {name!r} both end in the number {n}; the last number "
                "of each name counts the periods, so each needs its own (narrow `periods:`, or drop "
                "first_date when the names are dates)"
            )
        seen[n] = name
        numbers[name] = n
    return numbers


def period_dates(names: Sequence[str], first_date: date, step_days: int) -> dict[str, date]:
    """Each period column's date: `first_date` for the smallest number, `step_days` per number."""
    numbers = period_numbers(names)
    if not numbers:
        return {}
    first = min(numbers.values())
    return {name: first_date + timedelta(days=step_days * (n - first)) for name, n in numbers.items()}


def step_days(granularity: str) -> int:
    """Days between two periods of a source's granularity."""
    return 7 if granularity == "weekly" else 1
