"""The command line of a benchmark that reads a darkhorse config's published marts: its module
docstring as the help text, and `--config` (default: darkhorse.yaml, searched upward).

Imported after the benchmark script has put the repository on `sys.path`.
"""

from __future__ import annotations

import argparse


def config_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with `doc` as its description (kept as written) and `--config`."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=None, help="darkhorse config (default: darkhorse.yaml, searched upward)")
    return ap
