"""/healthz tells a load balancer whether the database answers and the worker keeps up."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db.utils import OperationalError
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.tests.test_tasks import always_fails, remember


@pytest.fixture
def url():
    return reverse("core:healthz")


@pytest.mark.django_db
def test_healthy_instance_answers_200_with_each_check(client, database_tasks, url):
    # given a queue with one fresh task and nothing failed

    remember.enqueue(item_id=1)

    # when a load balancer probes
    response = client.get(url)

    # then it is healthy, says why, and is not cached
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["worker"] == {
        "status": "ok",
        "ready": 1,
        "stale": 0,
        "running": 0,
        "failed": 0,
        "oldest_ready_seconds": pytest.approx(0, abs=5),
        "stale_after_seconds": 300,
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_unreachable_database_answers_503(client, url):
    # given a database that refuses connections
    with mock.patch(
        "core.health.connection.cursor",
        side_effect=OperationalError('connection to server at "db.internal" failed'),
    ):
        # when a load balancer probes
        response = client.get(url)

    # then it is unhealthy, and the error's text (host names) is not revealed
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == {"status": "fail", "error": "OperationalError"}
    assert body["checks"]["worker"]["status"] == "fail"
    assert "db.internal" not in response.content.decode()


@pytest.mark.django_db
def test_work_waiting_longer_than_the_limit_means_the_worker_is_down(
    client, database_tasks, settings, url
):
    # given a task queued 10 minutes ago that no worker picked up (limit: 5 minutes)
    settings.CIVICSTACK_WORKER_STALE_SECONDS = 300
    with time_machine.travel(timezone.now() - timedelta(minutes=10)):
        remember.enqueue(item_id=1)
    remember.enqueue(item_id=2)

    # when a load balancer probes
    response = client.get(url)

    # then the worker check fails with the counts, and the instance answers 503
    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["status"] == "fail"
    assert worker["ready"] == 2
    assert worker["stale"] == 1
    assert worker["oldest_ready_seconds"] >= 600


@pytest.mark.django_db
def test_a_retry_waiting_for_its_time_is_not_stale(client, database_tasks, url):
    # given a task deferred an hour into the future, queued long ago
    with time_machine.travel(timezone.now() - timedelta(hours=2)):
        remember.using(run_after=timezone.now() + timedelta(hours=3)).enqueue(item_id=1)

    # when a load balancer probes, then the worker is not blamed for it
    response = client.get(url)
    assert response.status_code == 200
    assert response.json()["checks"]["worker"]["ready"] == 0


@pytest.mark.django_db
def test_failed_tasks_are_counted_but_do_not_fail_the_instance(
    client, database_tasks, run_worker, url
):
    # given a task on its last attempt (of 3) that fails for good
    always_fails.enqueue(item_id=1, _attempt=3)
    run_worker()
    assert DBTaskResult.objects.failed().count() == 1

    # when a load balancer probes
    response = client.get(url)

    # then it is healthy and reports the failure for an operator
    assert response.status_code == 200
    assert response.json()["checks"]["worker"]["failed"] == 1


@pytest.mark.django_db
def test_health_reveals_no_personal_data(client, database_tasks, url):
    # given a queued task about a person
    remember.enqueue(item_id=987654321)

    # when probed, then neither task arguments nor task names appear
    text = client.get(url).content.decode()
    assert "987654321" not in text
    assert "remember" not in text


@pytest.mark.django_db
def test_health_without_a_queue_reports_tasks_run_in_process(client, url):
    # given the test settings, where tasks run at once in the web process
    response = client.get(url)

    # then there is no worker to watch and the instance is healthy
    assert response.status_code == 200
    assert response.json()["checks"]["worker"] == {"status": "ok", "queue": "none"}


@pytest.mark.django_db
def test_health_refuses_writes(client, url):
    assert client.post(url).status_code == 405
