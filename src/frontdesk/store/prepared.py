"""Hot statements handed straight to the database driver, past SQLAlchemy's execution.

Through SQLAlchemy's asyncio engine a statement costs ~50 µs of CPU before the database sees
it, prebuilt or not (the parameters' processing, the execution context, two greenlet switches,
the result object), where SQLite answers an indexed look-up in 2 µs; one message's life runs
~40 statements, so that machinery was a third of the rule bot's CPU (docs/performance.md).

A `Prepared` is a Core statement, written as everywhere else. For each dialect it is compiled
once: the driver's SQL, the order of its parameters, the values the statement holds itself, and
SQLAlchemy's own processing of each parameter and result column (JSON, floats on SQLite), which
it applies as SQLAlchemy would. Each call then gives the driver the SQL and the parameters, in
the connection's transaction, and reads the rows into a named tuple. The driver's errors come
out as SQLAlchemy's (`IntegrityError`, ...), as from `conn.execute`; a connection the driver
found gone is invalidated, so the pool does not hand it out again; listeners of the engine's
`before_cursor_execute` event still hear of each statement (with no cursor and no context).
What SQLAlchemy's execution alone does is not done: `echo` logs, `after_cursor_execute` and
`handle_error` listeners.

Not for statements whose IN lists are parameters of the call: the SQL would change with their
length (a fixed list, written in the statement, is fine).
"""

from __future__ import annotations

import operator
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Insert, Integer, Numeric, String, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any] | None
T = TypeVar("T")


@dataclass
class _Compiled:
    """One statement for one dialect."""

    sql: str
    names: tuple[str, ...]
    """The parameters in the SQL's order (for a driver of named parameters, any order)."""
    positional: bool
    fixed: dict[str, Any]
    """Values the statement holds itself, by name."""
    required: frozenset[str]
    """Names the caller must give."""
    processors: tuple[Processor, ...]
    """SQLAlchemy's processing of each parameter of `names` (None: none)."""
    row: Any
    """The named tuple of a result row; None for a statement that returns none."""
    types: tuple[Any, ...]
    """Each result column's type, for its processing."""
    results: list[Processor] | None = field(default=None)
    """Each result column's processing, known once the driver first described the columns."""
    arguments: Callable[[Mapping[str, Any]], Any] = field(init=False, repr=False)
    """The driver's parameters from the values by name, processed (`_arguments`)."""

    def __post_init__(self) -> None:
        self.arguments = _arguments(self.names, self.processors, positional=self.positional)


class Prepared:
    """A statement run by the driver itself; see the module's docstring.

    `lock`: a SELECT that locks the rows it reads on PostgreSQL (`FOR UPDATE`, with these
    options of `with_for_update`); SQLite serialises writers anyway (`BEGIN IMMEDIATE`).
    """

    __slots__ = ("_by_dialect", "_last", "lock", "statement")

    def __init__(self, statement: ClauseElement, *, lock: Mapping[str, Any] | None = None) -> None:
        self.statement = statement
        self.lock = lock
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}
        self._last: tuple[Dialect, _Compiled] | None = None
        """The dialect of the last call and its statement: a process has one engine, mostly."""

    async def all(self, conn: AsyncConnection, /, **params: Any) -> list[Any]:
        """Every row, each a named tuple of the statement's columns."""
        compiled, description, rows, _ = await self._execute(conn, params)
        return _shaped(compiled, conn.dialect, description, rows)

    async def first(self, conn: AsyncConnection, /, **params: Any) -> Any | None:
        """The first row, or None."""
        found = await self.all(conn, **params)
        return found[0] if found else None

    async def one(self, conn: AsyncConnection, /, **params: Any) -> Any:
        """The one row; `NoResultFound` when there is none."""
        found = await self.all(conn, **params)
        if not found:
            raise exc.NoResultFound("No row was found when one was required")
        return found[0]

    async def scalar(self, conn: AsyncConnection, /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self.first(conn, **params)
        return None if row is None else row[0]

    async def run(self, conn: AsyncConnection, /, **params: Any) -> int:
        """Run a statement for its effect; the number of rows it changed."""
        _, _, _, count = await self._execute(conn, params)
        return count

    def compiled(self, dialect: Dialect) -> _Compiled:
        last = self._last
        if last is not None and last[0] is dialect:
            return last[1]
        key = (dialect.name, dialect.paramstyle)
        found = self._by_dialect.get(key)
        if found is None:
            statement = self.statement
            if self.lock is not None and dialect.name == "postgresql":
                statement = statement.with_for_update(**self.lock)  # type: ignore[attr-defined]
            found = self._by_dialect[key] = _compile(statement, dialect)
        self._last = (dialect, found)
        return found

    async def _execute(
        self, conn: AsyncConnection, params: dict[str, Any]
    ) -> tuple[_Compiled, Any, list[Any], int]:
        dialect = conn.dialect
        compiled = self.compiled(dialect)
        if params.keys() != compiled.required:
            _refuse(compiled, params)
        arguments = compiled.arguments(compiled.fixed | params if compiled.fixed else params)
        sync: Any = conn.sync_connection
        if sync is None or not sync.in_transaction():
            await conn.begin()  # as `conn.execute` would: the statement joins the transaction
            sync = conn.sync_connection
        # SQLAlchemy's own test before it looks for listeners (a cheap one: this runs ~30 times
        # per message). Whoever listens for statements (a statement log, a test reading query
        # plans) hears of this one too; there is no cursor nor SQLAlchemy context to show them.
        listened = sync._has_events or sync.engine._has_events  # noqa: SLF001
        if listened and sync.dispatch.before_cursor_execute:
            sync.dispatch.before_cursor_execute(sync, None, compiled.sql, arguments, None, False)
        driver: Any = sync.connection.driver_connection
        try:
            if dialect.name == "sqlite":
                cursor = driver.sqlite.execute(compiled.sql, arguments)
                rows = cursor.fetchall()
                return compiled, cursor.description, rows, cursor.rowcount
            async with driver.cursor() as cursor:
                await cursor.execute(compiled.sql, arguments)
                rows = await cursor.fetchall() if cursor.description else []
                return compiled, cursor.description, rows, cursor.rowcount
        except dialect.loaded_dbapi.Error as err:  # sqlite3's own errors on SQLite
            # A connection that is gone leaves the pool, as `conn.execute` would have it.
            gone = dialect.is_disconnect(err, sync.connection.dbapi_connection, None)
            if gone:
                await conn.invalidate(err)
            raise exc.DBAPIError.instance(
                compiled.sql,
                arguments,
                err,
                dialect.loaded_dbapi.Error,
                connection_invalidated=gone,
                dialect=dialect,
            ) from err


def _arguments(
    names: tuple[str, ...], processors: tuple[Processor, ...], *, positional: bool
) -> Callable[[Mapping[str, Any]], Any]:
    """How one call's values by name become the driver's parameters: a tuple in the SQL's
    order (or a dict for a driver of named parameters), each processed as SQLAlchemy would.
    Built once per statement; most have no processing, and then an `itemgetter` does it all."""
    if positional and not any(processors):
        if not names:
            return lambda values: ()
        if len(names) == 1:
            [name] = names
            return lambda values: (values[name],)
        return operator.itemgetter(*names)
    pairs = tuple(zip(names, processors, strict=True))
    if positional:
        return lambda values: tuple(
            values[name] if process is None else process(values[name]) for name, process in pairs
        )
    return lambda values: {
        name: values[name] if process is None else process(values[name]) for name, process in pairs
    }


def padded(values: Sequence[T], most: int) -> Iterator[list[T]]:
    """`values`, `most` at a time, each list padded with its last value up to a power of two,
    for a statement whose IN list is written in it: one statement per size rather than per
    length (compiling one, and SQLite's cache of 128 statements, could not keep up with every
    length). A value repeated in an IN list changes nothing."""
    for start in range(0, len(values), most):
        some = list(values[start : start + most])
        some += [some[-1]] * ((1 << (len(some) - 1).bit_length()) - len(some))
        yield some


_WRITTEN = (str, int, float)
"""Kinds of constant written into the SQL (`_written`); a bool or NULL stays a parameter."""
_WRITTEN_TYPES = (String, Integer, Numeric)
"""Column types whose constants are written; a JSON or ARRAY value stays a parameter."""


def _is_written(bind: BindParameter[Any]) -> bool:
    if bind.required or bind.callable is not None:
        return False
    value = bind.value
    if bind.expanding:  # a fixed IN list
        return (
            isinstance(value, list | tuple)
            and bool(value)
            and all(type(item) in _WRITTEN for item in value)
        )
    return type(value) in _WRITTEN and isinstance(bind.type, _WRITTEN_TYPES)


def _written(statement: ClauseElement) -> ClauseElement:
    """The statement with its constants (`status != 'removed'`, `state IN ('ready',
    'running')`) written into the SQL rather than bound.

    SQLite re-prepares a statement at each call when a bound value could change its plan,
    such as whether a partial index (`WHERE status <> 'removed'`) applies: the channel look-up
    cost 45 µs instead of 5 (docs/performance.md). PostgreSQL's generic plans cannot use a
    partial index for a parameter either. The caller's parameters are never written in, nor
    an INSERT's values (no plan to choose)."""
    if isinstance(statement, Insert):
        return statement

    def write(bind: BindParameter[Any]) -> None:
        if _is_written(bind):
            bind.literal_execute = True

    return visitors.cloned_traverse(statement, {}, {"bindparam": write})


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = _written(statement).compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError("only SQL statements can be prepared")
    if compiled.insert_prefetch or compiled.update_prefetch:
        # SQLAlchemy computes those values per call; here they would be NULL.
        raise ValueError("a prepared statement must name every column it writes")
    names = set(compiled.bind_names.values())
    required = frozenset(name for name in names if compiled.binds[name].required)
    # Expanding IN lists are rendered now, with the statement's own values: the SQL is final.
    state = compiled.construct_expanded_state(dict.fromkeys(required))
    expanded_from = {new: old for old, news in state.parameter_expansion.items() for new in news}
    if required & expanded_from.keys() or required & state.parameter_expansion.keys():
        raise ValueError("a prepared statement's IN list must be written in it, not bound")
    order = tuple(state.positiontup or ()) if compiled.positional else tuple(state.parameters)
    bind_processors = compiled._bind_processors  # noqa: SLF001 - SQLAlchemy's own, as it applies them
    processors = tuple(bind_processors.get(expanded_from.get(n, n)) for n in order)
    columns = list(getattr(statement, "exported_columns", ()))
    # Rows only for what the statement asks: PostgreSQL's implicit RETURNING of an INSERT's
    # primary key is not a row to read.
    returns = bool(columns)
    return _Compiled(
        sql=state.statement,
        names=order,
        positional=compiled.positional,
        fixed={n: v for n, v in state.parameters.items() if n not in required},
        required=required,
        processors=processors,  # type: ignore[arg-type]
        # Columns without a name (an EXISTS, an expression) are _0, _1, … by position.
        row=namedtuple("Row", [str(c.key) for c in columns], rename=True) if returns else None,
        types=tuple(c.type for c in columns),
    )


def _shaped(
    compiled: _Compiled, dialect: Dialect, description: Sequence[Any] | None, rows: list[Any]
) -> list[Any]:
    if compiled.row is None or not rows:
        return []
    processors = compiled.results
    if processors is None:
        # The driver's column types pick the processing (psycopg: by type OID), as in SQLAlchemy.
        codes = [column[1] for column in description or ()]
        processors = compiled.results = [
            kind.dialect_impl(dialect).result_processor(dialect, code)
            for kind, code in zip(compiled.types, codes, strict=True)
        ]
    make = compiled.row._make
    if not any(processors):
        return [make(row) for row in rows]
    return [
        make(
            value if process is None else process(value)
            for value, process in zip(row, processors, strict=True)
        )
        for row in rows
    ]


def _refuse(compiled: _Compiled, params: dict[str, Any]) -> None:
    missing = sorted(compiled.required - params.keys())
    unknown = sorted(params.keys() - compiled.required)
    if missing:
        raise TypeError(f"the statement needs {missing}")
    raise TypeError(f"the statement takes no {unknown}")
