"""Background work on Django's tasks framework, queued in the database (django-tasks-db).

The contract every CivicStack task keeps:

- It is **queued after commit** (:func:`enqueue_on_commit`), so a worker never sees work for
  rows a rolled-back transaction never wrote.
- It receives **ids only** (ints, strings, UUIDs), never model instances: the row is read
  fresh when the task runs, so the task acts on the current state.
- It is **idempotent**: running it twice has the effect of running it once. A worker may die
  mid-task and a failed task is retried, so "at least once" is all the queue promises.
- It is **thin**: it loads rows by id and calls a service, which does the work.

:func:`retrying` re-queues a task that raised, with exponential backoff, up to a limit, then
logs it as failed for good. Typical use::

    @task()
    @retrying()
    def notice_send(*, notice_id: int) -> None:
        notices.services.notice_deliver(notice_id=notice_id, actor=system_actor())

    enqueue_on_commit(notice_send, notice_id=notice.pk)
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger("civicstack.tasks")

#: The keyword argument that carries the attempt number between retries. The wrapper made
#: by :func:`retrying` removes it before the task function is called.
ATTEMPT_KWARG = "_attempt"

#: The longest a retry is ever put off, whatever the attempt number.
MAX_BACKOFF_SECONDS = 3600.0

_ID_TYPES = (int, str, uuid.UUID)


def _check_ids_only(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Tasks take ids, not objects: refuse model instances and anything not JSON-safe."""
    clean: dict[str, Any] = {}
    for name, value in kwargs.items():
        if isinstance(value, models.Model):
            raise TypeError(f"pass {name}=<obj>.pk, not the {type(value).__name__} object")
        if isinstance(value, bool) or value is None:
            clean[name] = value
        elif isinstance(value, _ID_TYPES):
            clean[name] = str(value) if isinstance(value, uuid.UUID) else value
        elif isinstance(value, list | tuple) and all(isinstance(v, _ID_TYPES) for v in value):
            clean[name] = [str(v) if isinstance(v, uuid.UUID) else v for v in value]
        else:
            raise TypeError(
                f"task argument {name!r} must be an id (int, str, UUID) or a list of ids, "
                f"not {type(value).__name__}"
            )
    return clean


def enqueue_on_commit(task: Task, /, **kwargs: Any) -> None:
    """Queue ``task`` with ``kwargs`` once the current transaction commits.

    Outside a transaction the task is queued at once; if the transaction rolls back, it is
    never queued. Arguments must be ids (see the module docstring).
    """
    clean = _check_ids_only(kwargs)
    transaction.on_commit(functools.partial(task.enqueue, **clean))


def backoff_delay(*, attempt: int, base_seconds: float) -> timedelta:
    """How long to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed."""
    return timedelta(seconds=min(base_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def _task_of(func: Callable[..., Any]) -> Task:
    """The module-level Task object that wraps ``func`` (what the worker imports too)."""
    found = import_string(f"{func.__module__}.{func.__qualname__}")
    if not isinstance(found, Task):
        raise TypeError(
            f"{func.__module__}.{func.__qualname__} is not a task: put @retrying() below @task()"
        )
    return found


def retrying(
    max_attempts: int | None = None, backoff_seconds: float | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Retry a task that raises, with exponential backoff, then give up loudly.

    Put it directly below ``@task()``. When the task function raises, the same task is
    queued again with the same arguments to run after ``backoff_seconds * 2**(n-1)``
    seconds (capped at an hour), until ``max_attempts`` runs have failed; the last failure
    is logged at ERROR as failed for good. Each failed run is also recorded as a failed
    task result, with its traceback. Defaults come from the settings
    ``CIVICSTACK_TASK_MAX_ATTEMPTS`` and ``CIVICSTACK_TASK_BACKOFF_SECONDS``.

    A retry re-runs the whole task, so the task must be idempotent. A retry uses the task's
    declared queue and priority. Where the backend cannot defer work (the in-process
    backend used by tests), the retry runs at once.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            limit = max_attempts or settings.CIVICSTACK_TASK_MAX_ATTEMPTS
            try:
                return func(*args, **kwargs)
            except Exception as error:
                name = f"{func.__module__}.{func.__qualname__}"
                if attempt >= limit:
                    logger.error(
                        "task failed for good",
                        extra={
                            "task": name,
                            "attempt": attempt,
                            "max_attempts": limit,
                            "error": type(error).__name__,
                        },
                    )
                    raise
                base = (
                    backoff_seconds
                    if backoff_seconds is not None
                    else settings.CIVICSTACK_TASK_BACKOFF_SECONDS
                )
                delay = backoff_delay(attempt=attempt, base_seconds=base)
                logger.warning(
                    "task failed; will retry",
                    extra={
                        "task": name,
                        "attempt": attempt,
                        "max_attempts": limit,
                        "retry_in_seconds": delay.total_seconds(),
                        "error": type(error).__name__,
                    },
                )
                again = _task_of(func)
                if again.get_backend().supports_defer:
                    again = again.using(run_after=timezone.now() + delay)
                again.enqueue(*args, **{**kwargs, ATTEMPT_KWARG: attempt + 1})
                raise

        return run

    return decorate
