"""The typed frame, one row per exchange, from the Arrow tables the backends read.

One code path for both backends: an Arrow table of stored columns in, vectorised
conversions (Arrow compute and numpy, no Python object per row) out. Times become
``datetime64[ns, UTC]`` (or the given ``tz``), counts nullable ``Int64``, flags
``boolean``, low-cardinality text ``category``, the rest ``str``; derived money columns
come from accounting.py. What to read is reading.py's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowup_nb.ledger.accounting import add_balance_columns, add_expected_cost, fill_from_job
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS
from flowup_nb.ledger.time_bounds import TimeBound, to_bound_ms

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ATTEMPT_FRAME_COLUMNS",
    "CATEGORY_COLUMNS",
    "FRAME_COLUMNS",
    "TimeBound",
    "categorical",
    "concat_typed",
    "finish_frame",
    "int_values",
    "to_bound_ms",
    "typed_attempts",
    "typed_columns",
]

TIME_COLUMNS = ("started_at", "finished_at")
FLOAT_COLUMNS = ("wall_ms", "retry_after_s")
INT_COLUMNS = (
    "attempt",
    "http_status",
    "remaining_credits",
    "captcha_ms",
    "captcha_attempts",
    "captcha_failures",
    "bytes_received",
)
BOOL_COLUMNS = ("captcha_quality", "will_retry", "cached")
CATEGORY_COLUMNS = (
    "operation",
    "method",
    "endpoint",
    "mode",
    "outcome",
    "job_status",
    "account",
    "resolution",
    "model",
    "error_type",
    "error_reason",
    "captcha_service",
    "user",
    "host",
)
DERIVED_COLUMNS = ("credits_spent", "credits_added", "expected_cost", "balance_order")

# Column order of a frame: identity and time, what was asked, what came back, money,
# captcha, the rest.
FRAME_COLUMNS: tuple[str, ...] = (
    "call_id",
    "session_id",
    "started_at",
    "finished_at",
    "wall_ms",
    "operation",
    "method",
    "endpoint",
    "mode",
    "attempt",
    "will_retry",
    "job_id",
    "job_status",
    "account",
    "source_id",
    "resolution",
    "model",
    "outcome",
    "http_status",
    "error_type",
    "error_reason",
    "error_message",
    "retry_after_s",
    "captcha_quality",
    "cached",
    "remaining_credits",
    "credits_spent",
    "credits_added",
    "expected_cost",
    "balance_order",
    "result_id",
    "video_url",
    "bytes_received",
    "captcha_service",
    "captcha_ms",
    "captcha_attempts",
    "captcha_failures",
    "reply_ref",
    "tags",
    "user",
    "host",
)
assert set(FRAME_COLUMNS) == set(EXCHANGE_COLUMNS) | set(DERIVED_COLUMNS)


def typed_columns(table: pa.Table) -> pd.DataFrame:
    """An Arrow table of stored columns (and ``_seq``, the insertion order) -> the same
    columns typed, row by row (nothing here looks at other rows, so parts read at
    different times can be joined with :func:`concat_typed`)."""
    n = table.num_rows
    out: dict[str, Any] = {}
    out["_seq"] = int_values(_column(table, "_seq", n))[0]
    for name in TIME_COLUMNS:
        ms = int_values(_column(table, name, n))[0]
        out[name] = pd.DatetimeIndex((ms * 1_000_000).view("datetime64[ns]")).tz_localize("UTC")
    for name in FLOAT_COLUMNS:
        out[name] = _floats(_column(table, name, n))
    for name in INT_COLUMNS:
        values, missing = int_values(_column(table, name, n))
        out[name] = pd.arrays.IntegerArray(values, missing)
    for name in BOOL_COLUMNS:
        values, missing = int_values(_column(table, name, n))
        out[name] = pd.arrays.BooleanArray(values != 0, missing)
    for name in CATEGORY_COLUMNS:
        out[name] = categorical(_column(table, name, n))
    for name in EXCHANGE_COLUMNS:
        if name not in out:
            out[name] = pd.array(_as_text(_column(table, name, n)), dtype="str")
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def concat_typed(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Typed parts -> one (categories united: a plain concat would fall back to objects)."""
    parts = [part for part in parts if len(part)] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    from pandas.api.types import union_categoricals

    joined = {}
    for name in parts[0].columns:
        if name in CATEGORY_COLUMNS:
            joined[name] = union_categoricals(
                [part[name].array for part in parts], sort_categories=True
            )
        else:
            joined[name] = pd.concat([part[name] for part in parts], ignore_index=True).array
    return pd.DataFrame(joined, index=pd.RangeIndex(sum(len(part) for part in parts)))


def finish_frame(
    typed: pd.DataFrame,
    *,
    seeds: dict[str, int] | None = None,
    tz: str | None = None,
    universe: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Typed stored columns -> the frame: ordered by start, account and resolution filled
    from other rows of the job, the derived money columns added (see accounting.py).

    ``seeds``: each account's last balance before the window; ``universe``: the balance
    rows to compute balance falls over, when ``typed`` holds only some users' rows.
    """
    started_ms = _epoch_ms(typed["started_at"])
    insertion = typed["_seq"].to_numpy(dtype="int64")
    # Order by start (the order a person thinks in); insertion order breaks ties.
    order = np.lexsort((insertion, started_ms))
    if len(order) and not (order[1:] > order[:-1]).all():
        typed = typed.take(order)
        typed.index = pd.RangeIndex(len(typed))
        started_ms, insertion = started_ms[order], insertion[order]
    frame = typed.drop(columns="_seq")
    finished_ms = _epoch_ms(frame["finished_at"])
    if tz:
        for name in TIME_COLUMNS:
            frame[name] = frame[name].dt.tz_convert(tz)
    fill_from_job(frame, "account")
    fill_from_job(frame, "resolution")
    add_balance_columns(frame, started_ms, finished_ms, insertion, seeds, universe)
    add_expected_cost(frame, finished_ms)
    return frame[list(FRAME_COLUMNS)]


def _epoch_ms(stamps: pd.Series) -> np.ndarray:
    return stamps.to_numpy(dtype="datetime64[ns]").view("int64") // 1_000_000


# -- Arrow columns -> numpy/pandas ---------------------------------------------------------


def _column(table: pa.Table, name: str, n: int) -> pa.ChunkedArray:
    import pyarrow as pa

    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(n)])  # a column an older file does not have


def int_values(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values with 0 for missing, missing mask)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_integer(column.type):
        try:  # a float (an import's 3.0), or numbers kept as text by a dynamically typed file
            column = pc.cast(column, pa.float64())
            column = pc.cast(pc.floor(column), pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = pd.to_numeric(pd.Series(column.to_pylist(), dtype=object), errors="coerce")
            column = pa.chunked_array([pa.array(numbers.round(), type=pa.float64())])
            column = pc.cast(column, pa.int64())
    elif column.type != pa.int64():
        column = pc.cast(column, pa.int64())
    missing = column.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(column, 0).to_numpy()
    return np.asarray(values, dtype="int64"), np.asarray(missing, dtype=bool)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        column = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        numbers = pd.to_numeric(pd.Series(column.to_pylist(), dtype=object), errors="coerce")
        return numbers.to_numpy(dtype="float64")
    return np.asarray(pc.fill_null(column, np.nan).to_numpy(), dtype="float64")


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


def categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """Text -> a categorical with sorted categories (as ``astype("category")`` makes),
    encoded by Arrow without a Python object per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(_as_text(column)).combine_chunks()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = (
            encoded.chunk(0)
            if encoded.num_chunks
            else pa.array([], pa.dictionary(pa.int32(), pa.string()))
        )
    dictionary = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(dictionary).to_numpy(), dtype="int64")
    rank = np.empty(len(order) + 1, dtype="int64")
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # missing
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    codes = rank[np.asarray(indices, dtype="int64")]
    categories = pd.Index(pd.array(dictionary.take(pa.array(order)), dtype="str"))
    dtype = pd.CategoricalDtype(categories)
    return pd.Categorical.from_codes(codes, dtype=dtype)


ATTEMPT_FRAME_COLUMNS: tuple[str, ...] = (
    *ATTEMPT_COLUMNS,
    "job_id",
    "started_at",
    "wall_ms",
    "operation",
    "account",
    "resolution",
)


def typed_attempts(table: pa.Table, *, tz: str | None = None) -> pd.DataFrame:
    """Captcha attempt rows (:data:`ATTEMPT_FRAME_COLUMNS`, from reading.py) -> typed.

    Columns: the attempt's (``call_id``, ``idx``, ``service``, ``task_id``,
    ``duration_ms``, ``success``, ``error``) and the exchange's ``job_id``,
    ``started_at``, ``wall_ms``, ``operation``, ``account``, ``resolution``.
    """
    n = table.num_rows

    def text(name: str) -> Any:
        return pd.array(_as_text(_column(table, name, n)), dtype="str")

    def integers(name: str) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(*int_values(_column(table, name, n)))

    started_ms = int_values(_column(table, "started_at", n))[0]
    started = pd.DatetimeIndex((started_ms * 1_000_000).view("datetime64[ns]")).tz_localize("UTC")
    success, success_missing = int_values(_column(table, "success", n))
    return pd.DataFrame(
        {
            "call_id": text("call_id"),
            "idx": integers("idx"),
            "service": categorical(_column(table, "service", n)),
            "task_id": text("task_id"),
            "duration_ms": integers("duration_ms"),
            "success": pd.arrays.BooleanArray(success != 0, success_missing),
            "error": text("error"),
            "job_id": text("job_id"),
            "started_at": started.tz_convert(tz) if tz else started,
            "wall_ms": _floats(_column(table, "wall_ms", n)),
            "operation": categorical(_column(table, "operation", n)),
            "account": categorical(_column(table, "account", n)),
            "resolution": categorical(_column(table, "resolution", n)),
        },
        index=pd.RangeIndex(n),
    )
