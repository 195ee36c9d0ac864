"""The multi-task hot-seller model over the product graph, the item text and the weekly series.

* `context.GraphText`: the graph and text marts, queried as known at a week;
* `text`: TF-IDF + truncated SVD learned from the training origins' text, or a pretrained
  encoder from a local folder (`multitask.text_encoder`);
* `model`: settings, network (graph branch, temporal transformer, text branch, cross-attention,
  shared backbone, heads) and the lightning module (focal loss + weighted auxiliary losses);
* `scorer.MultiTaskHotSellerScorer`: samples and inputs, `fit` on the labels known at an origin,
  `predict_proba` at the origin. Its score joins the hot-seller ranking as `multitask` when
  `multitask.enabled` is set (opt-in: it costs minutes per origin on two cores).

torch, lightning and scikit-learn are imported by the modules that need them, when they run.
"""

from __future__ import annotations

from typing import Any

from darkhorse.core.config import Config


def multitask_params(config: Config) -> dict[str, Any] | None:
    """The scorer's arguments from the config when the model is enabled, else None."""
    m = config.multitask
    if not m.enabled:
        return None
    return {
        **m.params,
        "marts_dir": str(config.marts_dir),
        "text_encoder": str(config.resolve(m.text_encoder)) if m.text_encoder else None,
        "horizon": config.panel.horizon_weeks,
        "lookback": config.panel.lookback_weeks,
        "floor": config.panel.growth_floor,
    }


__all__ = ["multitask_params"]
