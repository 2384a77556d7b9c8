"""/healthz: is this instance fit to serve? For load balancers, orchestrators and humans.

Two checks, each reported by name:

- ``database``: a ``SELECT 1`` on the default database.
- ``worker``: the background queue is being worked. A worker that stopped while work was
  waiting shows up as a READY task that has waited longer than
  ``CIVICSTACK_WORKER_STALE_SECONDS``. The counts of ready, running and failed tasks are
  reported too (they do not make the instance unhealthy: they are for an operator to read;
  a task that stays running was claimed by a worker that died, see docs/operations.md).

The answer is 200 with ``"status": "ok"`` when every check passes, else 503 with
``"status": "fail"``. It holds counts and class names only, never personal data or error
messages (those can carry hostnames or values); details go to the log.
"""

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Min, Q
from django.http import HttpRequest, JsonResponse
from django.tasks import task_backends
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from core.access import public

logger = logging.getLogger("civicstack.health")

Check = dict[str, Any]


def check_database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.exception("health check: database unreachable")
        return {"status": "fail", "error": type(error).__name__}
    return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def _queued_backends() -> list[str]:
    return [alias for alias in task_backends if isinstance(task_backends[alias], DatabaseBackend)]


def check_worker() -> Check:
    backends = _queued_backends()
    if not backends:
        # Tasks run in the web process (tests, or a deliberate choice): nothing to watch.
        return {"status": "ok", "queue": "none"}
    stale_after = settings.CIVICSTACK_WORKER_STALE_SECONDS
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    try:
        tasks = DBTaskResult.objects.filter(backend_name__in=backends)
        ready = tasks.ready()
        # A task waits from when it became runnable: its run_after, or when it was queued.
        never_deferred = Q(run_after=get_date_max())
        waited_too_long = ready.filter(
            (never_deferred & Q(enqueued_at__lt=cutoff))
            | (~never_deferred & Q(run_after__lt=cutoff))
        )
        stale = waited_too_long.count()
        oldest = ready.aggregate(
            deferred=Min("run_after", filter=~never_deferred),
            queued=Min("enqueued_at", filter=never_deferred),
        )
        failed = tasks.failed().count()
        running = tasks.running().count()
        ready_count = ready.count()
    except Exception as error:
        logger.exception("health check: task queue unreadable")
        return {"status": "fail", "error": type(error).__name__}
    since = [moment for moment in oldest.values() if moment is not None]
    oldest_wait = round((now - min(since)).total_seconds(), 1) if since else 0.0
    return {
        "status": "fail" if stale else "ok",
        "ready": ready_count,
        "stale": stale,
        "running": running,
        "failed": failed,
        "oldest_ready_seconds": max(oldest_wait, 0.0),
        "stale_after_seconds": stale_after,
    }


@public("load balancers probe it without credentials; it reveals no personal data")
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database()}
    if checks["database"]["status"] == "ok":
        checks["worker"] = check_worker()
    else:
        checks["worker"] = {"status": "fail", "error": "database unavailable"}
    healthy = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks},
        status=200 if healthy else 503,
    )
