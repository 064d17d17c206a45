"""What to read: the SQL behind ``frame()`` and its filters, pushed into the database.

``since``/``until``/``accounts``/``users`` become a ``WHERE`` clause, so a notebook reads
only the rows it asked for. Two things keep a filtered frame's money columns right:
polls and webhooks may not repeat their job's account, so ``accounts=`` also takes the
rows of the accounts' jobs; and a balance fall belongs to the call that saw it even when
a colleague's call reported the balance before it, so ``users=`` computes the falls over
every balance row of the window (a few narrow columns), then keeps the user's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowup_nb.api.errors import InputError
from flowup_nb.ledger.frame import (
    ATTEMPT_FRAME_COLUMNS,
    TimeBound,
    categorical,
    concat_typed,
    finish_frame,
    int_values,
    to_bound_ms,
    typed_attempts,
    typed_columns,
)
from flowup_nb.ledger.schema import (
    ATTEMPT_COLUMNS,
    ATTEMPT_TYPES,
    COLUMN_TYPES,
    EXCHANGE_COLUMNS,
    column_list,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from flowup_nb.ledger.backends.base import Backend

__all__ = ["ROW_TYPES", "Filters", "read_attempts", "read_frame", "read_typed", "select_rows"]

Names = str | Iterable[str] | None
_SPLIT_ABOVE = 200_000  # rows (by seq) beyond which a read goes as two halves
# The SQLite type of each column a read returns (see backends/sqlite.py).
ROW_TYPES = {"_seq": "INTEGER", **COLUMN_TYPES}
_BALANCE_TYPES = {
    "seq": "INTEGER",
    "account": "TEXT",
    "remaining_credits": "INTEGER",
    "started_at": "INTEGER",
    "finished_at": "INTEGER",
}
_ATTEMPT_ROW_TYPES = {
    **ATTEMPT_TYPES,
    **{name: COLUMN_TYPES[name] for name in ATTEMPT_FRAME_COLUMNS if name not in ATTEMPT_TYPES},
}


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows a read wants (every field None: all of them)."""

    since_ms: int | None = None
    until_ms: int | None = None
    accounts: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
        *,
        tz: str | None = None,
    ) -> Filters:
        return cls(
            to_bound_ms(since, tz=tz, name="since"),
            to_bound_ms(until, tz=tz, name="until"),
            _names(accounts, "accounts"),
            _names(users, "users"),
        )

    @property
    def everything(self) -> bool:
        return self == Filters()

    def where(self, *, with_users: bool = True, table: str = "") -> tuple[str, list[Any]]:
        """`` WHERE ...`` (or nothing) and its parameters; ``table``: an alias to qualify
        the columns with."""
        t = f"{table}." if table else ""
        clauses: list[str] = []
        params: list[Any] = []
        if self.since_ms is not None:
            clauses.append(f"{t}started_at >= ?")
            params.append(self.since_ms)
        if self.until_ms is not None:
            clauses.append(f"{t}started_at < ?")
            params.append(self.until_ms)
        if self.accounts is not None:
            marks = _marks(self.accounts)
            # A poll may not carry its job's account: take the rows of the accounts' jobs.
            clauses.append(
                f"({t}account IN ({marks}) OR ({t}account IS NULL AND {t}job_id IN "
                f"(SELECT job_id FROM exchanges WHERE account IN ({marks}) "
                f"AND job_id IS NOT NULL)))"
            )
            params += [*self.accounts, *self.accounts]
        if with_users and self.users is not None:
            clauses.append(f'{t}"user" IN ({_marks(self.users)})')
            params += list(self.users)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _names(value: Names, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise InputError(
            f"{name}= takes a name or a list of names, not {type(value).__name__}"
        ) from None
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise InputError(f"{name}= takes names (text); got {bad[:3]!r}")
    return names


def _marks(values: tuple[str, ...]) -> str:
    # IN () is not SQL: an empty list matches nothing through a value no row has.
    return ", ".join("?" * len(values)) if values else "NULL"


def select_rows(
    backend: Backend,
    filters: Filters,
    *,
    after_seq: int | None = None,
    upto_seq: int | None = None,
) -> pa.Table:
    """The stored columns and ``_seq`` of the rows ``filters`` match (and, given
    ``after_seq``/``upto_seq``, inserted after/up to these)."""
    where, params = filters.where()
    for bound, operator in ((after_seq, ">"), (upto_seq, "<=")):
        if bound is not None:
            where += (" AND " if where else " WHERE ") + f"{backend.seq_column} {operator} ?"
            params.append(bound)
    return backend.read_arrow(
        f"SELECT {backend.seq_column} AS _seq, {column_list(EXCHANGE_COLUMNS)} "
        f"FROM exchanges{where}",
        params,
        types=ROW_TYPES,
    )


def read_typed(backend: Backend, filters: Filters, *, after_seq: int | None = None) -> pd.DataFrame:
    """The typed stored columns (frame.typed_columns) of the rows ``filters`` match.

    A long history is read as two halves side by side, each on its own connection and
    thread: the database driver and Arrow's conversions run outside the GIL, so on two
    cores the read takes little more than half as long.
    """
    if after_seq is None:
        seq = backend.seq_column
        ((low, high),) = backend.query(f"SELECT min({seq}), max({seq}) FROM exchanges")
        if low is not None and int(high) - int(low) > _SPLIT_ABOVE:
            middle = (int(low) + int(high)) // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                first = pool.submit(
                    lambda: typed_columns(select_rows(backend, filters, upto_seq=middle))
                )
                second = typed_columns(select_rows(backend, filters, after_seq=middle))
                return concat_typed([first.result(), second])
    return typed_columns(select_rows(backend, filters, after_seq=after_seq))


def read_frame(backend: Backend, filters: Filters, *, tz: str | None = None) -> pd.DataFrame:
    """The typed frame of the rows ``filters`` match (see frame.py)."""
    typed = read_typed(backend, filters)
    seeds = balances_before(backend, filters) if filters.since_ms is not None else None
    universe = balance_rows(backend, filters) if filters.users is not None else None
    return finish_frame(typed, seeds=seeds, tz=tz, universe=universe)


def balances_before(backend: Backend, filters: Filters) -> dict[str, int]:
    """Each account's last reported balance among calls started before ``since``."""
    account_clause, params = "", list[Any]([filters.since_ms])
    if filters.accounts is not None:
        account_clause = f" AND account IN ({_marks(filters.accounts)})"
        params += list(filters.accounts)
    query = f"""
        SELECT account, remaining_credits FROM (
            SELECT account, remaining_credits,
                   row_number() OVER (PARTITION BY account
                                      ORDER BY finished_at DESC, {backend.seq_column} DESC)
                       AS newest
            FROM exchanges
            WHERE started_at < ? AND remaining_credits IS NOT NULL
              AND account IS NOT NULL{account_clause}) AS latest
        WHERE newest = 1"""
    return {str(account): int(credits) for account, credits in backend.query(query, params)}


def balance_rows(backend: Backend, filters: Filters) -> pd.DataFrame:
    """Every balance row of the window and accounts, whoever recorded it."""
    where, params = filters.where(with_users=False)
    where += (" AND " if where else " WHERE ") + (
        "remaining_credits IS NOT NULL AND account IS NOT NULL"
    )
    table = backend.read_arrow(
        f"SELECT {backend.seq_column} AS seq, account, remaining_credits, "
        f"started_at, finished_at FROM exchanges{where}",
        params,
        types=_BALANCE_TYPES,
    )
    balance, missing = int_values(table.column("remaining_credits"))
    return pd.DataFrame(
        {
            "seq": int_values(table.column("seq"))[0],
            "account": categorical(table.column("account")),
            "remaining_credits": pd.arrays.IntegerArray(balance, missing),
            "started_ms": int_values(table.column("started_at"))[0],
            "finished_ms": int_values(table.column("finished_at"))[0],
        }
    )


def read_attempts(
    backend: Backend, filters: Filters | None = None, *, tz: str | None = None
) -> pd.DataFrame:
    """The captcha attempts (of the exchanges ``filters`` match), with their exchange's
    context; see frame.typed_attempts."""
    where, params = (filters or Filters()).where(table="e")
    attempt_columns = ", ".join(f"a.{name}" for name in ATTEMPT_COLUMNS)
    exchange_columns = ", ".join(
        f"e.{name}" for name in ATTEMPT_FRAME_COLUMNS if name not in ATTEMPT_COLUMNS
    )
    table = backend.read_arrow(
        f"SELECT {attempt_columns}, {exchange_columns} "
        f"FROM captcha_attempts AS a JOIN exchanges AS e ON e.call_id = a.call_id{where}",
        params,
        types=_ATTEMPT_ROW_TYPES,
    )
    return typed_attempts(table, tz=tz)
