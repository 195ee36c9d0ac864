"""Workbook sources: each workbook's sheets copied as text for the build's readers.

DuckDB reads no workbook without an extension it would have to download, so before dbt runs,
every workbook of a source with `format: excel` is read by the rule of
`darkhorse.core.workbook` (every cell as the text a CSV export would hold) and written as one
Parquet file of text columns under `Config.workbook_dir(source)`, the folder
`Config.read_paths` hands to dbt and the gate. The workbooks themselves are never modified.

- The sheets read are the source's `sheets:` (each must exist and hold the mapped columns), or
  else every sheet holding the mapped columns (a sheet without them, a notes or pivot sheet, is
  passed over with a note; none holding them is an error naming each sheet's columns).
- Blank rows are left out, as a CSV reader skips blank lines; sheets of different columns are
  read by name, as several CSV files are (a column one sheet lacks is empty there). Each row's
  `filename` names the workbook, the sheet and the row, so a quarantined row says where it
  came from.
- A copy is kept while its workbook's size and modification time, the sheets and the cell
  formats are unchanged (its Parquet metadata holds them), so a rebuild does not read the
  workbook again; copies of workbooks the source no longer matches are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from darkhorse.core.config import Config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.workbook import WorkbookError, read_workbook

KEY = b"darkhorse.workbook_copy"
VERSION = 1


class WorkbookSourceError(DarkHorseError, ValueError):
    """A workbook source cannot be read as configured; the message names the file and sheet."""


def copy_name(file: str) -> str:
    """The copy's file name: the workbook's stem and a digest of its whole path (two workbooks
    of one stem in two folders get two copies)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(file).stem)[:60]
    digest = hashlib.sha256(str(Path(file).resolve()).encode()).hexdigest()[:12]
    return f"{stem}-{digest}.parquet"


def _cell_formats(source: Any) -> tuple[dict[str, str | None], str | None]:
    """How a date cell becomes text (darkhorse.core.workbook): the format of the dating
    column's cells, or of a wide table's header (its periods); none for a catalogue."""
    if getattr(source, "wide", None) is not None:
        return {}, source.date_format
    dating = source.time_column()
    if dating is None:  # a catalogue: no dated column
        return {}, None
    column, fmt = dating
    return {column: fmt}, None


def _key(source: Any, file: str) -> str:
    st = os.stat(file)
    formats, header = _cell_formats(source)
    return json.dumps({"version": VERSION, "file": str(Path(file).resolve()), "size": st.st_size,
                       "mtime_ns": st.st_mtime_ns, "sheets": source.sheets, "formats": formats,
                       "header_format": header, "columns": sorted(source.mapped_columns().values())},
                      sort_keys=True)


def _stored_key(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return None
    value = meta.get(KEY)
    return value.decode() if value is not None else None


def _text_table(source: Any, file: str) -> tuple[Any, str]:
    """The workbook's kept sheets as one text table (pyarrow) and a note of what was read."""
    import pandas as pd
    import pyarrow as pa

    formats, header = _cell_formats(source)
    try:
        sheets = read_workbook(file, sheets=source.sheets, date_formats=formats, header_date_format=header)
    except WorkbookError as e:
        raise WorkbookSourceError(f"source '{source.name}': {e}") from None
    needed = list(dict.fromkeys(source.mapped_columns().values()))
    kept, passed = [], []
    for sheet in sheets:
        missing = [c for c in needed if c not in sheet.frame.columns]
        if missing and source.sheets is not None:
            raise WorkbookSourceError(
                f"source '{source.name}' file {file}: sheet {sheet.name!r} has no column "
                f"{', '.join(map(repr, missing))}; it has {list(sheet.frame.columns)[:12]}. Fix `columns:` "
                "or `sheets:` in the config"
            )
        (passed if missing else kept).append(sheet)
    if not kept:
        seen = "; ".join(f"{s.name!r}: {list(s.frame.columns)[:8]}" for s in sheets) or "none holds a cell"
        raise WorkbookSourceError(
            f"source '{source.name}' file {file}: no sheet has the mapped column(s) {needed} ({seen}). "
            "Fix `columns:` in the config, or name the sheets with `sheets:`"
        )
    frames = []
    for sheet in kept:
        rows = sheet.filled()
        frame = rows.copy()
        frame["filename"] = [f"{file} sheet {sheet.name!r} row {n}" for n in rows.index]
        frames.append(frame.reset_index(drop=True))
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    table = table.astype(object).where(table.notna(), None)  # a column one sheet lacks: empty there
    columns = {str(c): pa.array(table[c].tolist(), pa.string()) for c in table.columns}
    note = (f"workbook {Path(file).name}: {len(table):,} rows read from sheet(s) "
            f"{', '.join(repr(s.name) for s in kept)}")
    if passed:
        note += f"; sheet(s) {', '.join(repr(s.name) for s in passed)} passed over (without the mapped columns)"
    return pa.table(columns), note


def copy_workbooks(config: Config, source: Any, files: list[str]) -> tuple[list[str], list[str]]:
    """Bring `source`'s copies up to date with its workbooks `files` (see the module's rule);
    returns each file's copy and notes of what was read. Raises WorkbookSourceError naming file
    and sheet."""
    import pyarrow.parquet as pq

    folder = config.workbook_dir(source)
    folder.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    copies: list[str] = []
    for file in files:
        dest = folder / copy_name(file)
        copies.append(str(dest))
        key = _key(source, file)
        if dest.is_file() and _stored_key(dest) == key:
            notes.append(f"workbook {Path(file).name}: unchanged, its text copy reused")
            continue
        table, note = _text_table(source, file)
        table = table.replace_schema_metadata({KEY: key.encode()})
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
        pq.write_table(table, partial)
        os.replace(partial, dest)
        notes.append(note)
    for stale in folder.glob("*.parquet"):
        if str(stale) not in copies:
            stale.unlink()
    return copies, notes


__all__ = ["WorkbookSourceError", "copy_name", "copy_workbooks"]
