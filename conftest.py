"""Fixtures shared by every app's tests. Keep this small: app fixtures live in the app."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def database_tasks(settings: Any) -> None:
    """Queue tasks in the database, as in production, instead of running them at once."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def run_worker(
    database_tasks: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], None]]:
    """Run the real database worker in-process until no task is ready, then return.

    The worker closes stale connections between tasks; inside a test's transaction that
    would roll the test back, so it is switched off here.
    """
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)

    def run() -> None:
        db_worker.Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        ).run()

    yield run
