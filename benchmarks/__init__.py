"""Benchmarks of DarkHorse (importable so tests can reuse the reference code).

Importing the package applies the process environment (`darkhorse/core/process.env`) before a
benchmark loads a library that reads it (LightGBM's and XGBoost's OpenMP threads, telemetry).
"""

from darkhorse.core.env import set_process_defaults

set_process_defaults()
