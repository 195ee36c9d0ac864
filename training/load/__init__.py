"""Load forecasting at any interval grain: the same long frame (`unique_id, ds, y`) as the
weekly room, with the grain declared as data (`freq`, a pandas offset such as "5min" or "1h").

* `frame`: checks a long frame is regular at its grain; the grain's seasonal periods (a day,
  a week, in intervals);
* `members`: the load forecasters (seasonal naive over a day or a week, MSTL with the daily
  and weekly seasons) and their equal-weight quantile average;
* `replay`: rolling-origin forecasts for every interval of an evaluation window, each made at
  the interval's decision time (t - lead), the input of a replica plan.

Kept apart from `training.models` (whose protocol and backtest are weekly) until that
protocol takes a frequency.
"""

from training.load.frame import LoadFrameError, periods, validate_intervals
from training.load.members import MEMBERS, LoadForecaster, create, quantile_average
from training.load.replay import rolling_forecasts

__all__ = [
    "MEMBERS",
    "LoadForecaster",
    "LoadFrameError",
    "create",
    "periods",
    "quantile_average",
    "rolling_forecasts",
    "validate_intervals",
]
