"""SQLite, as Django ships it, with writers queued by the operating system.

SQLite lets one writer in at a time; a connection that finds the write lock taken sleeps
and polls (1, 2, 5, 10 ... 100 ms), so two busy processes — the web server and the worker,
or two web workers — lose most of their time asleep with the lock free. Here a write
transaction (`BEGIN IMMEDIATE`, which the settings use) first takes an exclusive `flock`
on a file beside the database, and releases it at commit or rollback: the next writer
is woken by the kernel the moment the lock is free. Readers never take it (WAL lets them
read while one writes). In-memory databases, and systems without `flock`, behave exactly
as Django's backend.
"""

from __future__ import annotations

import os
from typing import Any

from django.db.backends.sqlite3 import base

try:
    import fcntl
except ImportError:  # not a POSIX system: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer_fd: int | None = None
        self._writer_locked = False

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
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._writer_unlock()

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
