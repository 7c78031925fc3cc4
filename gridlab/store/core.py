"""The DuckDB store: one file, opened through `Store.open`, migrated on open.

Only store modules (`gridlab.store.*`) touch `store.con`; everyone else calls their functions,
which hand back numpy arrays or DataFrames.

Migrations are the files `gridlab/store/sql/migrations/NNNN_name.sql`, applied in order, each
in its own transaction together with its row in `schema_version`. Any new file dropped there
is picked up; a store written by a newer gridlab (a version above the newest file) is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import duckdb

from gridlab.errors import StoreError, StoreLockedError

__all__ = ["MEMORY", "Migration", "Store", "load_sql", "migrations", "quiet_connection"]

MEMORY = ":memory:"
_SQL_ROOT = "sql"
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_PID_RE = re.compile(r"\(PID (\d+)\)")


class Migration(NamedTuple):
    """One schema migration file."""

    version: int
    name: str
    sql: str


def _sql_dir() -> resources.abc.Traversable:
    return resources.files("gridlab.store").joinpath(_SQL_ROOT)


@lru_cache(maxsize=256)
def load_sql(name: str) -> str:
    """Text of `gridlab/store/sql/<name>` (`.sql` suffix optional; `dir/file` for subfolders)."""
    if not name.endswith(".sql"):
        name += ".sql"
    node = _sql_dir()
    for part in name.split("/"):
        node = node.joinpath(part)
    if not node.is_file():
        raise StoreError(f"SQL file gridlab/store/sql/{name} not found",
                         "reinstall gridlab (pip install -e .) or fix the query name")
    return node.read_text(encoding="utf-8")


def migrations() -> list[Migration]:
    """All migration files, ordered by version; duplicate versions are an error."""
    folder = _sql_dir().joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if not m:
            continue
        version = int(m.group(1))
        if version in found:
            raise StoreError(f"two migrations share version {version:04d}: "
                             f"{found[version].name} and {m.group(2)}",
                             "renumber one of the files in gridlab/store/sql/migrations")
        found[version] = Migration(version, m.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "conflicting lock" in str(exc).lower()


def _locked_error(path: str, exc: BaseException) -> StoreLockedError:
    pid = _PID_RE.search(str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return StoreLockedError(
        f"the store {path} is locked by {holder} "
        "(DuckDB allows one writer, and no reader beside it)",
        "stop that process (or wait for it: --wait / Store.open(wait_s=...)), or work on a copy "
        "of the file, or read the live runner's Parquet exports instead")


def quiet_connection(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar on the terminal (in Jupyter DuckDB refuses the change without
    ipywidgets; its default is fine there)."""
    with suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")


class Store:
    """An open DuckDB store. Use `Store.open(path)`; close it or use it as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str | Path, read_only: bool) -> None:
        self.con = con
        self.path: Path | str = path
        self.read_only = read_only
        self._tx_depth = 0

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, read_only: bool = False, wait_s: float = 0.0) -> Store:
        """Open (creating it if needed, unless read_only) and migrate the store at `path`.

        A file locked by another process raises StoreLockedError, after retrying for up to
        `wait_s` seconds. `":memory:"` opens a throwaway in-memory store.
        """
        memory = str(path) == MEMORY
        spath: str | Path = MEMORY if memory else Path(path)
        if not memory:
            assert isinstance(spath, Path)
            if read_only and not spath.exists():
                raise StoreError(f"the store {spath} does not exist",
                                 "create it first (e.g. `gridlab synth` or `gridlab ingest trades`)"
                                 " or check --db")
            if not read_only:
                spath.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + max(0.0, wait_s)
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(spath), read_only=read_only and not memory)
                break
            except duckdb.Error as exc:
                if _is_lock_error(exc):
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        time.sleep(min(delay, remaining))
                        delay = min(delay * 2, 0.5)
                        continue
                    raise _locked_error(str(spath), exc) from None
                if isinstance(exc, duckdb.ConnectionException):
                    raise StoreError(f"cannot open the store {spath}: {_first_line(exc)}",
                                     "this process already has it open with other settings "
                                     "(read-only vs read-write): reuse that Store") from None
                raise StoreError(f"cannot open the store {spath}: {_first_line(exc)}",
                                 "check that the path is a gridlab DuckDB file (DuckDB >= 2.0) "
                                 "and that you may read/write it") from None
        store = cls(con, spath, read_only and not memory)
        try:
            quiet_connection(con)
            store._migrate()
        except BaseException:
            con.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with suppress(duckdb.Error):  # closing an invalidated database
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Store({str(self.path)!r}, {mode})"

    # -- transactions --------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        """True inside `transaction()`."""
        return self._tx_depth > 0

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN … COMMIT, or ROLLBACK on any exception, so a batch lands whole or not at all.

        Nested use joins the outer transaction. DuckDB I/O failures (disk full, file too large,
        permissions) become StoreError naming the file; other exceptions pass through unchanged.
        """
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield self.con
            finally:
                self._tx_depth -= 1
            return
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only",
                             "open it read-write to change it")
        self.con.execute("BEGIN TRANSACTION")
        self._tx_depth = 1
        try:
            yield self.con
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, duckdb.IOException | duckdb.FatalException):
                raise self._write_error(exc) from exc
            raise
        else:
            try:
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self._rollback()
                raise self._write_error(exc) from exc
        finally:
            self._tx_depth = 0

    def _rollback(self) -> None:
        # no transaction left (DuckDB aborted it) or the database was invalidated
        with suppress(duckdb.Error):
            self.con.execute("ROLLBACK")

    def _write_error(self, exc: BaseException) -> StoreError:
        return StoreError(f"writing the store {self.path} failed: {_first_line(exc)}; "
                          "the batch was rolled back",
                          "free disk space / check permissions and quotas, reopen the store and "
                          "run again (ingestion is idempotent)")

    # -- migrations ----------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        """Newest migration applied to this file (0 for an empty file)."""
        return self._file_version()

    def _file_version(self) -> int:
        if self.con.execute(load_sql("schema_version_exists")).fetchall()[0][0] is None:
            return 0
        version = self.con.execute(load_sql("schema_version_max")).fetchall()[0][0]
        return 0 if version is None else int(version)

    def _migrate(self) -> None:
        todo = migrations()
        newest = todo[-1].version if todo else 0
        current = self._file_version()
        if current > newest:
            raise StoreError(
                f"the store {self.path} has schema version {current}, newer than this gridlab "
                f"knows (newest migration {newest})",
                "upgrade gridlab (pip install -U gridlab / git pull) to open it")
        pending = [m for m in todo if m.version > current]
        if not pending:
            return
        if self.read_only:
            raise StoreError(
                f"the store {self.path} is at schema version {current} and needs migrating to "
                f"{newest}, but it was opened read-only",
                "open it read-write once (any writing gridlab command) to migrate it")
        self.con.execute(load_sql("schema_version"))
        for mig in pending:
            try:
                with self.transaction() as con:
                    con.execute(mig.sql)
                    con.execute(load_sql("schema_version_insert"),
                                {"version": mig.version, "name": mig.name,
                                 "applied_at": int(time.time() * 1000)})
            except duckdb.Error as exc:
                raise StoreError(f"migration {mig.version:04d}_{mig.name} failed on {self.path}: "
                                 f"{_first_line(exc)}",
                                 "the file was left at the previous version; report this bug"
                                 ) from None
