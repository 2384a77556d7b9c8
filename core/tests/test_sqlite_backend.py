"""The SQLite backend queues write transactions with an OS lock, and releases it always."""

import fcntl
import os

import pytest

from core.db.sqlite import base
from core.db.sqlite.base import DatabaseWrapper


def _wrapper(path, *, wal=False, name=""):
    options = {"transaction_mode": "IMMEDIATE"}
    if wal:
        options["init_command"] = "PRAGMA journal_mode=WAL"
    settings = {
        "NAME": str(path),
        "ENGINE": "core.db.sqlite",
        "OPTIONS": options,
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }
    return DatabaseWrapper(settings, alias=f"lock-test-{path.name}{name}")


def _held_by_someone(lock_path) -> bool:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_write_transaction_holds_the_writers_lock_until_it_ends(
    tmp_path, ending, django_db_blocker
):
    db = _wrapper(tmp_path / "db.sqlite3")
    lock = f"{tmp_path / 'db.sqlite3'}.writers"
    with django_db_blocker.unblock():
        _write_then_end(db, lock, ending)
    assert not _held_by_someone(lock)


def _write_then_end(db, lock, ending):
    try:
        # as transaction.atomic does on SQLite: BEGIN IMMEDIATE
        db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        db.cursor().execute("CREATE TABLE t (n integer)")
        assert _held_by_someone(lock)
        db.commit() if ending == "commit" else db.rollback()
        assert not _held_by_someone(lock)
    finally:
        db.close()


def test_reads_outside_a_transaction_take_no_lock(tmp_path, django_db_blocker):
    db = _wrapper(tmp_path / "db.sqlite3")
    with django_db_blocker.unblock():
        try:
            db.cursor().execute("SELECT 1").fetchone()
            assert not _held_by_someone(f"{tmp_path / 'db.sqlite3'}.writers")
        finally:
            db.close()


def test_an_in_memory_database_has_no_lock_file(tmp_path):
    settings_path = tmp_path / "unused"
    db = _wrapper(settings_path)
    db.settings_dict["NAME"] = ":memory:"
    assert db._lock_path() is None


def test_the_log_is_checkpointed_after_every_nth_commit_of_any_writer_with_the_lock_free(
    tmp_path, django_db_blocker, monkeypatch
):
    # given two writers on one database in WAL mode (as two processes), a checkpoint every
    # 4 commits, and a watch on whether the writers' lock is free when one runs
    monkeypatch.setattr(base, "CHECKPOINT_EVERY", 4)
    path = tmp_path / "db.sqlite3"
    lock = f"{path}.writers"
    writers = [_wrapper(path, wal=True, name="-a"), _wrapper(path, wal=True, name="-b")]
    lock_free_at_checkpoint = []
    checkpoint = DatabaseWrapper._checkpoint

    def watched(self):
        lock_free_at_checkpoint.append(not _held_by_someone(lock))
        checkpoint(self)

    monkeypatch.setattr(DatabaseWrapper, "_checkpoint", watched)
    sizes = []
    with django_db_blocker.unblock():
        try:
            # when they take turns to commit: a table, then seven rows of 64 KB
            for n in range(8):
                db = writers[n % 2]
                db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
                if n == 0:
                    db.cursor().execute("CREATE TABLE t (b blob)")
                else:
                    db.cursor().execute("INSERT INTO t VALUES (zeroblob(65536))")
                db.commit()
                db.set_autocommit(True)
                sizes.append(path.stat().st_size)
        finally:
            for db in writers:
                db.close()
    # then the 4th and 8th commits, whichever writer made them, copied the log into the
    # database file (it grows only then), each after the lock was let go
    assert lock_free_at_checkpoint == [True, True]
    assert sizes[2] < sizes[3] == sizes[4] == sizes[5] == sizes[6] < sizes[7]
