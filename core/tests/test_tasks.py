"""Background work: queued on commit, ids only, retried with backoff, then failed for good."""

import logging
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.tasks import TaskResultStatus, task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.tasks import ATTEMPT_KWARG, backoff_delay, enqueue_on_commit, retrying
from identity.tests.factories import AgencyFactory

CALLS: Counter[str] = Counter()


@task()
def remember(*, item_id: int) -> int:
    CALLS[f"remember:{item_id}"] += 1
    return item_id * 2


@task()
@retrying(max_attempts=3, backoff_seconds=10)
def always_fails(*, item_id: int) -> None:
    CALLS["always_fails"] += 1
    raise RuntimeError("the other agency's system is down")


@task()
@retrying(max_attempts=3, backoff_seconds=10)
def fails_once(*, item_id: int) -> str:
    CALLS["fails_once"] += 1
    if CALLS["fails_once"] == 1:
        raise ConnectionError("timeout")
    return "delivered"


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


@pytest.mark.django_db
def test_enqueue_on_commit_queues_only_after_the_transaction_commits(
    database_tasks, django_capture_on_commit_callbacks
):
    # given a transaction that queues a task
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue_on_commit(remember, item_id=7)
        # then nothing is queued while the transaction is open
        assert DBTaskResult.objects.count() == 0

    # then the task is queued with its ids once it commits
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "core.tests.test_tasks.remember"
    assert queued.args_kwargs == {"args": [], "kwargs": {"item_id": 7}}
    assert queued.status == TaskResultStatus.READY


@pytest.mark.django_db
def test_enqueue_on_commit_runs_nothing_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    # given tasks that run as soon as they are queued (the test settings' backend)

    # when a transaction queues a task and then fails
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValueError),
        transaction.atomic(),
    ):
        enqueue_on_commit(remember, item_id=7)
        raise ValueError("validation failed")

    # then the task never ran and nothing is left to run
    assert CALLS["remember:7"] == 0
    assert callbacks == []


@pytest.mark.django_db
def test_enqueue_on_commit_refuses_a_model_instance():
    # given a saved row
    agency = AgencyFactory()

    # when a caller passes the object instead of its id, then it is refused
    with pytest.raises(TypeError, match=r"agency_id=<obj>\.pk"):
        enqueue_on_commit(remember, agency_id=agency)


@pytest.mark.django_db
def test_enqueue_on_commit_refuses_arguments_that_are_not_ids():
    with pytest.raises(TypeError, match="must be an id"):
        enqueue_on_commit(remember, item_id={"name": "Ana"})


@pytest.mark.django_db
def test_the_worker_runs_a_queued_task_to_completion(run_worker):
    # given a queued task
    result = remember.enqueue(item_id=21)

    # when the worker runs
    run_worker()

    # then the task ran once and its result is recorded
    assert CALLS["remember:21"] == 1
    stored = DBTaskResult.objects.get(id=result.id)
    assert stored.status == TaskResultStatus.SUCCESSFUL
    assert stored.return_value == 42


@pytest.mark.django_db
def test_a_failing_task_is_retried_with_growing_delays_then_fails_for_good(run_worker, caplog):
    # given a queued task that always raises (3 attempts, 10 s base backoff)
    always_fails.enqueue(item_id=1)

    # when the worker runs it
    run_worker()

    # then the attempt is recorded as failed and a retry waits 10 s
    assert CALLS["always_fails"] == 1
    assert DBTaskResult.objects.failed().count() == 1
    retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert retry.args_kwargs["kwargs"] == {"item_id": 1, ATTEMPT_KWARG: 2}
    wait = retry.run_after - timezone.now()
    assert timedelta(seconds=9) < wait <= timedelta(seconds=10)

    # when the worker runs again before the delay is over, then nothing runs
    run_worker()
    assert CALLS["always_fails"] == 1

    # when the delay is over, then the second attempt runs and the next retry waits 20 s
    with time_machine.travel(retry.run_after + timedelta(seconds=1), tick=False):
        run_worker()
        assert CALLS["always_fails"] == 2
        retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
        assert retry.args_kwargs["kwargs"][ATTEMPT_KWARG] == 3
        assert retry.run_after - timezone.now() == timedelta(seconds=20)

    # when the third and last attempt fails
    with (
        caplog.at_level(logging.ERROR, logger="civicstack.tasks"),
        time_machine.travel(retry.run_after + timedelta(seconds=1), tick=False),
    ):
        run_worker()

    # then it is not queued again, and it is logged as failed for good
    assert CALLS["always_fails"] == 3
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
    assert DBTaskResult.objects.failed().count() == 3
    gave_up = [r for r in caplog.records if r.getMessage() == "task failed for good"]
    assert len(gave_up) == 1
    assert gave_up[0].task == "core.tests.test_tasks.always_fails"
    assert gave_up[0].attempt == 3


@pytest.mark.django_db
def test_a_task_that_fails_once_succeeds_on_its_retry(run_worker):
    # given a task whose first attempt fails
    fails_once.enqueue(item_id=5)
    run_worker()
    retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)

    # when its retry is due and the worker runs
    with time_machine.travel(retry.run_after + timedelta(seconds=1), tick=False):
        run_worker()

    # then the retry completed the work
    retry.refresh_from_db()
    assert retry.status == TaskResultStatus.SUCCESSFUL
    assert retry.return_value == "delivered"
    assert CALLS["fails_once"] == 2


@pytest.mark.django_db
def test_without_a_queue_retries_run_at_once_and_stop_at_the_limit():
    # given the in-process backend of the test settings

    # when a task that always fails is enqueued
    result = always_fails.enqueue(item_id=1)

    # then it ran exactly max_attempts times, and the first run is reported failed
    assert CALLS["always_fails"] == 3
    assert result.status == TaskResultStatus.FAILED


@pytest.mark.parametrize(
    ("attempt", "seconds"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (20, 3600)],
)
def test_backoff_doubles_each_attempt_and_is_capped_at_an_hour(attempt, seconds):
    assert backoff_delay(attempt=attempt, base_seconds=5) == timedelta(seconds=seconds)


def test_retrying_reads_its_defaults_from_settings(settings, caplog):
    # given settings allowing two attempts
    settings.CIVICSTACK_TASK_MAX_ATTEMPTS = 2
    calls = []

    @retrying()
    def flaky() -> None:
        calls.append(1)
        raise RuntimeError("down")

    # when the final attempt (the second) fails, then it gives up without queueing again
    with caplog.at_level(logging.ERROR, logger="civicstack.tasks"), pytest.raises(RuntimeError):
        flaky(**{ATTEMPT_KWARG: 2})
    assert calls == [1]
    assert any(r.getMessage() == "task failed for good" for r in caplog.records)
