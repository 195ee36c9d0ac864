"""dbt_project.yml's `vars:` are generated from darkhorse.yaml, the one config.

`darkhorse build` passes the config's values to dbt with `--vars`; the block in
dbt_project.yml only exists so that `cd dbt_project && dbt run` works alone on the shipped
data. It is written by this module, never by hand:

    python -m darkhorse.app.dbt_defaults           # rewrite the block from darkhorse.yaml
    python -m darkhorse.app.dbt_defaults --check   # exit 1 when the block is out of date

Paths are written relative to the dbt project folder (dbt runs from there).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from darkhorse.core.config import Config, load_config
from darkhorse.core.errors import DarkHorseError

BEGIN = "# >>> vars generated from darkhorse.yaml by `python -m darkhorse.app.dbt_defaults`: do not edit"
END = "# <<< end of generated vars"


class DbtDefaultsError(DarkHorseError, ValueError):
    """dbt_project.yml lacks the generated block's markers (the message names the file)."""


def project_vars(config: Config) -> dict[str, Any]:
    """`config.dbt_vars()` with source paths relative to the dbt project folder."""
    found = config.dbt_vars()
    project = config.dbt_project_dir
    for entry in found["raw_sources"].values():
        entry["paths"] = [os.path.relpath(p, project) for p in entry["paths"]]
    return found


def render(config: Config, text: str, *, file: Path) -> str:
    """`text` (dbt_project.yml) with its generated block rewritten from `config`."""
    lines = text.splitlines()
    try:
        start, stop = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise DbtDefaultsError(f"{file}: the lines {BEGIN!r} and {END!r} are missing") from None
    block = yaml.safe_dump({"vars": project_vars(config)}, sort_keys=False, width=100)
    return "\n".join([*lines[: start + 1], *block.splitlines(), *lines[stop:]]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="darkhorse.yaml (default: found from here)")
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    file = config.dbt_project_dir / "dbt_project.yml"
    old = file.read_text()
    new = render(config, old, file=file)
    if args.check:
        if old != new:
            print(f"{file} is out of date with {config.path}: run python -m darkhorse.app.dbt_defaults")
            return 1
        return 0
    if old != new:
        file.write_text(new)
        print(f"wrote the vars of {file} from {config.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
