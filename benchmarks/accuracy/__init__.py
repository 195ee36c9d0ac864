"""The accuracy suite: the default configuration backtested on several real weekly panels.

`panels` builds each panel as a `training.history.History`, `labels` computes the hot-seller
label for panels not built through dbt, `m4` scores M4 Weekly with the official measures,
`suite` runs the backtests and makes the tables; `benchmarks/bench_accuracy.py` is the CLI.
"""
