"""Load forecasting at any interval grain: the same long frame (`unique_id, ds, y`) as the
weekly room, with the grain declared as data (`freq`, a pandas offset such as "5min" or "1h").

* `frame`: checks a long frame is regular at its grain; the grain's seasonal periods (a day,
  a week, in intervals);
* `members`: the base class, seasonal naive over a day or a week, MSTL with the daily and
  weekly seasons, and the registry (`create`);
* `windows`, `gbm`, `lstm`: the global models over level-scaled windows (XGBoost with lags at
  the seasonal periods, a stacked LSTM with quantile outputs);
* `blend`: member weights learned on held-out windows, and the ensemble forecaster;
* `replay`: rolling-origin forecasts for every interval of an evaluation window, each made at
  the interval's decision time (t - lead), the input of a replica plan;
* `backtest`: rolling origins at the grain, scored with `training.metrics` (MASE scaled by the
  grain's daily seasonal naive) and written by the weekly backtest's writer and report.

The members keep their own protocol (`LoadForecaster`: windows at the grain, refresh between
retrains for the stream) apart from `training.models`, whose members read weekly calendars.
"""

from training.load.blend import LoadEnsemble, combine, learn_weights
from training.load.frame import LoadFrameError, periods, validate_intervals
from training.load.members import MEMBERS, LoadForecaster, create, quantile_average
from training.load.replay import rolling_forecasts

__all__ = [
    "MEMBERS",
    "LoadEnsemble",
    "LoadForecaster",
    "LoadFrameError",
    "combine",
    "create",
    "learn_weights",
    "periods",
    "quantile_average",
    "rolling_forecasts",
    "validate_intervals",
]
