"""The publish gate: Great Expectations suites over the raw sources, staging events and the
candidate marts of one build.

`run_gate()` reads every frame with DuckDB (raw sources and staging events sampled to
`gate.sample_rows` rows, the marts in full, the DuckDB file read-only), validates each against
its suite (`expectations.suites`) in a file-backed context under `data_dir/gx`, builds the
data docs there and returns a `GateResult`: success, the failed expectations with counts,
the marts' row counts and each source's rows read and kept (what the next publish compares
against) and the data docs path.

Drift against the last publish (`previous`, its manifest, and `previous_marts`, its folder) is
checked per source (kept rows may fall by `gate.max_source_row_drop`), per item (items of the
last panel missing now: `gate.max_vanished_items`, the message lists them) and per week (the
panel may start later or end earlier by `gate.max_weeks_lost` weeks). The interval load panel
of a request_log source is compared the same way: per load series (series of the last panel
missing now: `gate.max_vanished_series`) and per series' first and last interval
(`gate.max_intervals_lost`), the request log's kept rows with the other sources'. The first
build has nothing to compare against and passes these checks.

A config without an item source (a request_log alone) builds the weekly marts empty: the gate
then skips the weekly suites and gates the interval panel only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from darkhorse.core.env import PROCESS_ENV
from darkhorse.core.errors import DarkHorseError

os.environ.update({**PROCESS_ENV, **os.environ})  # defaults, before GX is imported: no analytics

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.exceptions import DataContextError

from darkhorse.core.config import Config
from darkhorse.core.marts import PANEL_MARTS, mart_path
from expectations import covariates, frames, graph, suites

DATASOURCE = "darkhorse_gate"
DOCS_SITE = "local_site"
PARTIAL_UNEXPECTED = 5


class GateError(DarkHorseError, RuntimeError):
    """The gate could not run at all (a missing candidate file or DuckDB table)."""


@dataclass(frozen=True)
class Failure:
    """One failed expectation."""

    table: str  # what it is about: a mart, `raw.<source>` or `staging_events`
    dataset: str  # the frame validated (its suite has the same name)
    expectation: str  # the expectation type, e.g. expect_column_values_to_be_between
    column: str | None
    kwargs: dict[str, Any]
    unexpected_count: int | None  # rows (or weeks, keys, marts) that broke it; None if n/a
    element_count: int | None
    message: str

    def __str__(self) -> str:
        where = f"({self.column})" if self.column else ""
        return f"{self.expectation}{where} on {self.dataset}: {self.message}"


@dataclass(frozen=True)
class Validation:
    """What one suite saw: the frame's rows and how many expectations held."""

    dataset: str
    table: str
    rows: int
    evaluated: int
    successful: int
    seconds: float


@dataclass
class GateResult:
    success: bool
    failures: list[Failure]
    row_counts: dict[str, int]
    docs_path: Path
    validations: list[Validation] = field(default_factory=list)
    run_name: str = ""
    seconds: float = 0.0
    # {source: {"read": n, "kept": n}}: what the next publish compares against
    source_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    # items of the last published panel the candidate no longer has
    vanished_items: list[str] = field(default_factory=list)
    # load series of the last published interval panel the candidate no longer has
    vanished_series: list[str] = field(default_factory=list)
    # items the plan files name that the panel does not hold (they plan nothing)
    unknown_plan_items: list[str] = field(default_factory=list)

    def failures_for(self, table: str) -> list[Failure]:
        return [f for f in self.failures if f.table == table]

    def summary(self) -> str:
        evaluated = sum(v.evaluated for v in self.validations)
        head = (
            f"gate passed: {evaluated} expectations on {len(self.validations)} datasets held"
            if self.success
            else f"gate FAILED: {len(self.failures)} of {evaluated} expectations failed"
        )
        lines = [f"{head} ({self.seconds:.1f} s)"]
        tables = list(dict.fromkeys(f.table for f in self.failures))
        for table in tables:
            failed = self.failures_for(table)
            lines.append(f"  {table}: {len(failed)} failed")
            for f in failed:
                lines.append(f"    - {f}")
        counts = ", ".join(f"{m} {n:,}" for m, n in self.row_counts.items())
        lines.append(f"row counts: {counts}")
        lines.append(f"run: {self.run_name}")
        lines.append(f"data docs: {self.docs_path}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class _Dataset:
    name: str
    table: str
    load: Callable[[], pd.DataFrame]
    suite: Callable[[Any], Any]  # context -> ExpectationSuite
    index_columns: tuple[str, ...] = ()
    examples: int = PARTIAL_UNEXPECTED  # unexpected rows the message shows at most


def _datasets(
    config: Config,
    candidate_marts: Path,
    previous: Mapping[str, Any] | None,
    counts: dict[str, int],
    marts: Any,
    warehouse: Any,
    by_source: pd.DataFrame,
    vanished: pd.DataFrame,
    previous_marts: Path | None,
    series: pd.DataFrame,
    planned: pd.DataFrame | None = None,
) -> list[_Dataset]:
    rows = config.gate.sample_rows
    keys = ("item_id", "week_start")
    read_by_dbt = frames.raw_row_counts(warehouse)
    weekly, load = frames.has_items(config), frames.has_load(config)
    out: list[_Dataset] = []
    for source in config.sources:
        out.append(
            _Dataset(
                name=f"raw_{source.kind}",
                table=f"raw.{source.name}",
                load=partial(frames.raw_sample, config, source, rows, read_by_dbt.get(source.name)),
                suite=partial(suites.RAW_SUITES[source.kind], config=config, source=source),
            )
        )
    if weekly:
        out.append(
            _Dataset(
                "staging_events",
                "staging_events",
                partial(frames.staging_events_sample, warehouse, rows),
                partial(suites.staging_events_suite, config=config),
            )
        )
    out += [
        _Dataset(
            "staging_events_by_source",
            "staging_events",
            by_source.copy,
            partial(suites.staging_events_by_source_suite, config=config),
            ("source_name", "rows_read", "reasons"),
        ),
        _Dataset(
            "source_rows",
            "drift",
            partial(frames.source_row_changes, by_source, previous),
            partial(suites.source_rows_suite, config=config),
            ("source_name", "rows_kept", "previous_rows_kept"),
        ),
    ]
    if weekly:
        out += _weekly_datasets(config, candidate_marts, marts, vanished, previous_marts, keys, planned)
    if load:
        out += _load_datasets(config, candidate_marts, marts, series, previous_marts)
    out.append(
        _Dataset(
            "mart_row_counts",
            "marts",
            partial(frames.row_count_changes, counts, previous),
            partial(suites.mart_row_counts_suite, config=config),
            ("mart", "rows", "previous_rows"),
        )
    )
    return out


def _weekly_datasets(
    config: Config,
    candidate_marts: Path,
    marts: Any,
    vanished: pd.DataFrame,
    previous_marts: Path | None,
    keys: tuple[str, ...],
    planned: pd.DataFrame | None,
) -> list[_Dataset]:
    """The weekly panel's marts and its drift against the last publish (item sources);
    `planned`: the items the plan files name (`covariates.plan_items`), None without a plan."""
    return [
        _Dataset(
            "vanished_items",
            "drift",
            vanished.copy,
            partial(suites.vanished_items_suite, config=config),
            ("item_id",),
            examples=20,
        ),
        _Dataset(
            "week_coverage",
            "drift",
            partial(frames.week_coverage, marts, candidate_marts, previous_marts),
            partial(suites.week_coverage_suite, config=config),
            ("first_week", "last_week", "previous_first_week", "previous_last_week"),
        ),
        _Dataset(
            "item_weeks",
            "item_weeks",
            partial(frames.item_weeks, marts, candidate_marts),
            partial(suites.item_weeks_suite, config=config),
            keys,
        ),
        _Dataset(
            "item_week_labels",
            "item_week_labels",
            partial(frames.item_week_labels, marts, candidate_marts, config),
            partial(suites.item_week_labels_suite, config=config),
            keys,
        ),
        _Dataset(
            "item_week_labels_weekly",
            "item_week_labels",
            partial(frames.label_weeks, marts, candidate_marts, config),
            partial(suites.label_weeks_suite, config=config),
            ("week_start",),
        ),
        *(
            [_Dataset(covariates.MART, covariates.MART, partial(covariates.frame, marts, candidate_marts, config),
                      partial(covariates.suite, config=config), ("item_id", "week_start"))]
            if config.known_future()
            else []
        ),
        *(
            [_Dataset(covariates.PLANS, "int_known_future_plans", planned.copy,
                      partial(covariates.plan_suite, config=config), covariates.PLAN_KEYS)]
            if planned is not None
            else []
        ),
        *(_Dataset(name, name, load, suite, index) for name, load, suite, index in graph.datasets(marts, candidate_marts, config)),
    ]


def _load_datasets(
    config: Config, candidate_marts: Path, marts: Any, series: pd.DataFrame, previous_marts: Path | None
) -> list[_Dataset]:
    """The interval load panel and its drift against the last publish (a request_log source):
    load series that vanished, intervals lost at either end of a series."""
    return [
        _Dataset(
            "series_intervals",
            "series_intervals",
            partial(frames.series_intervals, marts, candidate_marts),
            partial(suites.series_intervals_suite, config=config),
            ("series_id", "interval_start"),
        ),
        _Dataset(
            "vanished_series",
            "drift",
            series.copy,
            partial(suites.vanished_series_suite, config=config),
            ("series_id", "previous_last_interval"),
            examples=20,
        ),
        _Dataset(
            "interval_coverage",
            "drift",
            partial(frames.interval_coverage, marts, candidate_marts, previous_marts, config.load.grain_minutes),
            partial(suites.interval_coverage_suite, config=config),
            ("series_id", "first_interval", "last_interval", "previous_first_interval", "previous_last_interval"),
            examples=20,
        ),
    ]


# --------------------------------------------------------------------------- context
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No GX log chatter or library warnings on the terminal while the gate runs."""
    logger = logging.getLogger("great_expectations")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="great_expectations")
            yield
    finally:
        logger.setLevel(level)


def open_context(config: Config) -> Any:
    """The gate's file-backed GX context under `data_dir/gx`, progress bars off."""
    root = config.data_dir
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    bars = context.variables.progress_bars
    if bars is None or bars.get("globally", True) or bars.get("metric_calculations", True):
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        context.variables.save()
    return context


def _batch_definition(context: Any, asset_name: str) -> Any:
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(name=DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition("whole_frame")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole_frame")


def _validation_definition(context: Any, dataset: _Dataset) -> Any:
    """Apply the dataset's suite, then its validation definition (stored once, reused)."""
    suite = dataset.suite(context)
    name = f"gate_{dataset.name}"
    try:
        stored = context.validation_definitions.get(name)
    except DataContextError:
        stored = None
    if stored is not None and stored.suite.id == suite.id:
        return stored  # loaded after the suite was applied: it validates the current suite
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(
            name=name, data=_batch_definition(context, dataset.name), suite=suite
        )
    )


# --------------------------------------------------------------------------- results
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ").replace(" 00:00:00", "")
    return str(value)


def _rule(kind: str, kwargs: Mapping[str, Any]) -> str:
    column = kwargs.get("column")
    mostly = kwargs.get("mostly")
    share = f" (at least {mostly:.1%} of rows)" if mostly not in (None, 1, 1.0) else ""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if "between" in kind:
        subject = column or "row count"
        if low is not None and high is not None:
            rule = (
                f"{subject} in [{_fmt(low)}, {_fmt(high)}{')' if kwargs.get('strict_max') else ']'}"
            )
        elif low is not None:
            rule = f"{subject} >= {_fmt(low)}"
        else:
            rule = f"{subject} <= {_fmt(high)}"
    elif kind == "expect_column_values_to_not_be_null":
        rule = f"{column} not null"
    elif kind == "expect_column_values_to_be_in_set":
        rule = f"{column} in {kwargs.get('value_set')}"
    elif kind == "expect_column_pair_values_to_be_equal":
        rule = f"{kwargs.get('column_A')} == {kwargs.get('column_B')}"
    elif kind == "expect_table_columns_to_match_set":
        rule = "columns present"
    else:
        rule = kind.removeprefix("expect_")
    condition = _condition(kwargs.get("row_condition"))
    if condition:
        rule += f" where {condition}"
    return rule + share


def _condition(condition: Any) -> str:
    """A row condition as text: `mart == 'item_weeks'` rather than its serialized form."""
    if condition is None:
        return ""
    if isinstance(condition, Mapping) and {"column", "operator"} <= condition.keys():
        column = condition["column"]
        name = column.get("name") if isinstance(column, Mapping) else column
        return f"{name} {condition['operator']} {condition.get('parameter')!r}"
    return str(condition)


def _examples(
    result: Mapping[str, Any], index_columns: tuple[str, ...], limit: int = PARTIAL_UNEXPECTED
) -> str:
    indexed = result.get("partial_unexpected_index_list") or []
    if indexed and isinstance(indexed[0], dict) and index_columns:
        shown = [
            ", ".join(f"{k}={_fmt(v)}" for k, v in row.items())
            for row in indexed[:limit]
        ]
    else:
        shown = [_fmt(v) for v in (result.get("partial_unexpected_list") or [])[:limit]]
    return f"; e.g. {' | '.join(shown)}" if shown else ""


def _failure(dataset: _Dataset, outcome: Any) -> Failure:
    config = outcome.expectation_config
    kind = config.type
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    table = (config.meta or {}).get("table", dataset.table)
    result = outcome.result or {}
    exception = outcome.exception_info or {}
    unexpected = result.get("unexpected_count")
    total = result.get("element_count")
    rule = (config.meta or {}).get("rule") or _rule(kind, kwargs)
    if exception.get("raised_exception"):
        detail = str(exception.get("exception_message") or "error").splitlines()[0][:200]
        message = f"{rule}: could not be evaluated: {detail}"
    elif unexpected is not None:
        of = f" of {total:,}" if total is not None else ""
        message = f"{rule}: {unexpected:,}{of} unexpected{_examples(result, dataset.index_columns, dataset.examples)}"
    else:
        observed = result.get("observed_value")
        missing = ((result.get("details") or {}).get("mismatched") or {}).get("missing")
        message = f"{rule}: missing {missing}" if missing else f"{rule}: observed {_fmt(observed)}"
    column = kwargs.get("column") or (
        f"{kwargs['column_A']}, {kwargs['column_B']}" if "column_A" in kwargs else None
    )
    return Failure(
        table=table,
        dataset=dataset.name,
        expectation=kind,
        column=column,
        kwargs={k: v for k, v in kwargs.items() if k not in ("column", "column_A", "column_B")},
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if total is None else int(total),
        message=message,
    )


def _result_format(dataset: _Dataset) -> Any:
    if not dataset.index_columns:
        return {"result_format": "SUMMARY", "partial_unexpected_count": dataset.examples}
    return {
        "result_format": "SUMMARY",
        "partial_unexpected_count": dataset.examples,
        "unexpected_index_column_names": list(dataset.index_columns),
    }


def _docs_path(urls: Mapping[str, str], context: Any) -> Path:
    url = urls.get(DOCS_SITE) or next(iter(urls.values()), None)
    if url:
        return Path(unquote(urlparse(url).path))
    return Path(context.root_directory) / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"


# --------------------------------------------------------------------------- the gate
def _check_inputs(config: Config, candidate_marts: Path, duckdb_path: Path) -> None:
    missing = [
        str(mart_path(candidate_marts, m))
        for m in dict.fromkeys((*PANEL_MARTS, *frames.gated_marts(config)))
        if not mart_path(candidate_marts, m).is_file()
    ]
    if missing:
        raise GateError(f"the candidate lacks mart file(s): {', '.join(missing)}")
    if not Path(duckdb_path).is_file():
        raise GateError(f"no DuckDB file at {duckdb_path}: run dbt build first")


def run_gate(
    config: Config,
    *,
    candidate_marts: Path,
    duckdb_path: Path,
    previous: dict | None,
    previous_marts: Path | None = None,
) -> GateResult:
    """Validate a candidate build; nothing is published or changed outside `data_dir/gx`.

    `candidate_marts`: the folder of the candidate Parquet marts; `duckdb_path`: the DuckDB
    file dbt has finished writing (opened read-only); `previous`: the manifest of the last
    published run ({"row_counts": {"item_weeks": N, ...}, "source_rows": {...}}) or None on
    the first publish; `previous_marts`: the folder of that publish (its items and weeks).
    """
    started = time.perf_counter()
    candidate_marts = Path(candidate_marts)
    _check_inputs(config, candidate_marts, Path(duckdb_path))
    now = datetime.now(UTC)
    run_id = RunIdentifier(run_name=f"gate-{now:%Y%m%dT%H%M%S%fZ}", run_time=now)
    marts = frames.connect()
    try:
        warehouse = frames.connect(Path(duckdb_path))
    except Exception as e:
        marts.close()
        raise GateError(f"cannot open {duckdb_path} read-only: {e}") from None
    failures: list[Failure] = []
    validations: list[Validation] = []
    with _quiet():
        try:
            counts = frames.row_counts(marts, candidate_marts, frames.gated_marts(config))
            try:
                by_source = frames.sources_by_name(warehouse, config)
                vanished = frames.vanished_items(marts, candidate_marts, previous_marts)
                series = frames.vanished_series(marts, candidate_marts, previous_marts)
            except Exception as e:  # a missing table or file: the gate cannot pass
                raise GateError(f"cannot read the source counts or the last publish: {e}") from None
            planned = None  # the items the sources' plan files name, and whether the panel holds them
            if any(getattr(s, "plan", None) for s in config.sources):
                try:
                    planned = covariates.plan_items(warehouse, marts, candidate_marts)
                except Exception as e:
                    raise GateError(f"cannot read {covariates.PLANS}: {e}") from None
            context = open_context(config)
            datasets = _datasets(
                config, candidate_marts, previous, counts, marts, warehouse,
                by_source, vanished, previous_marts, series, planned,
            )
            for dataset in datasets:
                t0 = time.perf_counter()
                try:
                    frame = frames.widen_dtypes(dataset.load())
                except Exception as e:  # a missing table or column: the gate cannot pass
                    raise GateError(f"cannot read {dataset.name}: {e}") from None
                definition = _validation_definition(context, dataset)
                outcome = definition.run(
                    batch_parameters={"dataframe": frame},
                    result_format=_result_format(dataset),
                    run_id=run_id,
                )
                failed = [_failure(dataset, r) for r in outcome.results if not r.success]
                failures += failed
                validations.append(
                    Validation(
                        dataset=dataset.name,
                        table=dataset.table,
                        rows=len(frame),
                        evaluated=len(outcome.results),
                        successful=len(outcome.results) - len(failed),
                        seconds=time.perf_counter() - t0,
                    )
                )
                del frame
            docs = _build_docs(context, run_id)
        finally:
            marts.close()
            warehouse.close()
    return GateResult(
        success=not failures,
        failures=failures,
        row_counts=counts,
        docs_path=docs,
        validations=validations,
        run_name=run_id.run_name or "",
        seconds=time.perf_counter() - started,
        source_rows={
            str(name): {"read": int(read), "kept": int(kept)}
            for name, read, kept in zip(
                by_source["source_name"], by_source["rows_read"], by_source["rows_kept"], strict=True
            )
        },
        vanished_items=[str(i) for i in vanished.loc[~vanished["in_candidate"], "item_id"]],
        vanished_series=[str(i) for i in series.loc[~series["in_candidate"], "series_id"]],
        unknown_plan_items=[] if planned is None else sorted(
            set(planned.loc[~planned["is_panel_item"].astype(bool), "item_id"].astype(str))
        ),
    )


def _build_docs(context: Any, run_id: RunIdentifier) -> Path:
    """Render this run's validation pages and the suites, then the index."""
    store = context.validation_results_store
    ours: list[Any] = [
        key
        for key in store.list_keys()
        if isinstance(key, ValidationResultIdentifier) and key.run_id.run_name == run_id.run_name
    ]
    names = sorted({key.expectation_suite_identifier.name for key in ours})
    ours += [ExpectationSuiteIdentifier(name=name) for name in names]
    urls = context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=ours)
    return _docs_path(urls, context)
