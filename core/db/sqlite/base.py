"""SQLite, as Django ships it, with writers queued by the operating system.

SQLite lets one writer in at a time; a connection that finds the write lock taken sleeps
and polls (1, 2, 5, 10 ... 100 ms), so two busy processes — the web server and the worker,
or two web workers — lose most of their time asleep with the lock free. Here a write
transaction (`BEGIN IMMEDIATE`, which the settings use) first takes an exclusive `flock`
on a file beside the database, and releases it at commit or rollback: the next writer
is woken by the kernel the moment the lock is free. Readers never take it (WAL lets them
read while one writes). In-memory databases, and systems without `flock`, behave exactly
as Django's backend.

Checkpoints (copying the write-ahead log back into the database, with a sync to disk) run
after the lock is released. SQLite's automatic checkpoint runs inside the commit that
fills the log, which here would hold every other writer back for its whole length (tens of
milliseconds, every few hundred commits). Instead the lock file counts the commits of all
processes, and the connection whose commit is the `CHECKPOINT_EVERY`-th runs a passive
checkpoint (one that never waits for or blocks writers) once it has let the next writer
in. SQLite's own stays as a safety net for writes outside transactions (which take no lock
here), at a log four times the size these checkpoints let it reach.
"""

from __future__ import annotations

import os
from typing import Any

from django.db.backends.sqlite3 import base

try:
    import fcntl
except ImportError:  # not a POSIX system: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]


# Commits (of every process) between checkpoints: at ~20 pages a commit, the log is copied
# back every ~5,000 pages (~20 MB).
CHECKPOINT_EVERY = 256
SAFETY_NET_PAGES = 20_000


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer_fd: int | None = None
        self._writer_locked = False

    def get_new_connection(self, conn_params: Any) -> Any:
        conn = super().get_new_connection(conn_params)
        if self._lock_path() is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")  # see the docstring
        return conn

    def _lock_path(self) -> str | None:
        name = str(self.settings_dict.get("NAME") or "")
        if fcntl is None or not name or self.is_in_memory_db() or name.startswith("file:"):
            return None
        return f"{name}.writers"

    def _writer_lock(self) -> None:
        path = self._lock_path()
        if path is None or self._writer_locked:
            return
        if self._writer_fd is None:
            self._writer_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._writer_fd, fcntl.LOCK_EX)
        self._writer_locked = True

    def _writer_unlock(self) -> None:
        if self._writer_locked and self._writer_fd is not None:
            fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
        self._writer_locked = False

    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) in ("IMMEDIATE", "EXCLUSIVE"):
            self._writer_lock()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._writer_unlock()
            raise

    def _commit(self) -> None:
        due = False
        try:
            super()._commit()  # type: ignore[misc]
            due = self._writer_locked and self._count_commit()
        finally:
            self._writer_unlock()
        if due:
            self._checkpoint()

    def _count_commit(self) -> bool:
        """Add this commit to the count kept in the lock file (under the lock); whether it is
        the one after which to checkpoint."""
        assert self._writer_fd is not None
        try:
            raw = os.pread(self._writer_fd, 8, 0)
            count = (int.from_bytes(raw, "little") if len(raw) == 8 else 0) + 1
            os.pwrite(self._writer_fd, count.to_bytes(8, "little"), 0)
        except OSError:  # the count is an optimisation; the commit stands
            return False
        return count % CHECKPOINT_EVERY == 0

    def _checkpoint(self) -> None:
        """A passive checkpoint, outside the writers' lock (see the module's docstring)."""
        if self.connection is not None and self._lock_path() is not None:
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._writer_unlock()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._writer_unlock()
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None
