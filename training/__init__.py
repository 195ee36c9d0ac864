"""Forecasters, classifiers, backtests and the blend.

Importing the package applies the process environment (`darkhorse/core/process.env`) before
any trainer loads XGBoost, torch or scikit-learn: their OpenMP threads read their wait policy
once, when the library loads.
"""

from darkhorse.core.env import set_process_defaults

set_process_defaults()
