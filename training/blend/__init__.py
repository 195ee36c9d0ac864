"""The ensemble of the forecast members, in four parts:

* `weights.py`: per-series weights learned on earlier windows, per horizon bucket, shrunk to
  global, and how they combine the members' forecasts (`learn_weights`, `combine`);
* `point.py`: the checked factor of the blended point for a bias every member shares;
* `intervals.py`: the blend's quantiles (split-conformal, the members' own, or per-side
  weights) and the choice among them;
* `model.py`: `Blend`, the ensemble behind the model protocol, and `subset_blend`, the blend of
  some members as a function.

`Blend` and `BlendSettings` are importable from here too: a forecaster saved by an earlier
DarkHorse version names them `training.blend.Blend` and `training.blend.BlendSettings`.
"""

from training.blend.model import Blend, BlendSettings

__all__ = ["Blend", "BlendSettings"]
