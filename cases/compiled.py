"""A service version, parsed once per process: the SpiffWorkflow spec, forms, queues, decisions.

Versions never change once deployed, so what is built from one is kept (by id and digest)
for the life of the process; every case of the version shares it. `active_version` finds
the version new cases start on with a query of ids only, every time (a version deployed or
activated by another process is used by the next case), and takes the row from this cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone
from jsonschema import Draft202012Validator

from cases import forms
from cases.connectors import CONNECTORS
from cases.definition import DEFAULT_PRIORITY, Queue, parse_duration
from cases.engine.bpmn import ParsedProcess, read_process
from cases.errors import ServiceNotActive
from cases.models import Service, ServiceVersion
from core import sql
from decisions.models import DecisionModel


@dataclass(frozen=True)
class DecisionTarget:
    model: DecisionModel
    decision: str
    input_names: tuple[str, ...]


@dataclass
class CompiledService:
    version_id: int
    agency_code: str
    sha256: str
    deployed_at: Any
    process: ParsedProcess
    form: Draft202012Validator
    task_forms: dict[str, Draft202012Validator]
    queues: dict[str, Queue]
    decisions: dict[str, DecisionTarget] = field(default_factory=dict)


def _queues(metadata: dict[str, Any]) -> dict[str, Queue]:
    queues: dict[str, Queue] = {}
    for name, raw in (metadata.get("queues") or {}).items():
        sla = parse_duration(raw.get("sla")) or timedelta(days=5)
        at_risk = parse_duration(raw.get("at_risk")) or sla * 0.8
        queues[name] = Queue(
            name=name,
            role=raw.get("role", "caseworker"),
            sla=sla,
            at_risk=at_risk,
            priority=int(raw.get("priority", DEFAULT_PRIORITY)),
        )
    return queues


def build(version: ServiceVersion) -> CompiledService:
    process = read_process(version.bpmn_xml, connectors=set(CONNECTORS))
    models = DecisionModel.objects.select_related("agency").in_bulk(
        {int(ref["model_id"]) for ref in version.decisions.values()}
    )
    decisions = {
        name: DecisionTarget(
            model=models[int(ref["model_id"])],
            decision=str(ref["decision"]),
            input_names=tuple(ref.get("inputs", ())),
        )
        for name, ref in version.decisions.items()
    }
    return CompiledService(
        version_id=version.pk,
        agency_code=version.service.agency.code,
        sha256=version.sha256,
        deployed_at=version.deployed_at,
        process=process,
        form=forms.validator(version.form_schema),
        task_forms={k: forms.validator(v) for k, v in (version.task_forms or {}).items()},
        queues=_queues(version.metadata),
        decisions=decisions,
    )


_CACHE_SIZE = 64
_cache: OrderedDict[int, CompiledService] = OrderedDict()
_lock = threading.Lock()


def compiled(version: ServiceVersion) -> CompiledService:
    with _lock:
        found = _cache.get(version.pk)
        if found is not None and (found.sha256, found.deployed_at) == (
            version.sha256,
            version.deployed_at,
        ):
            _cache.move_to_end(version.pk)
            return found
    built = build(version)
    with _lock:
        _cache[version.pk] = built
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def forget(version_id: int) -> None:
    with _lock:
        _cache.pop(version_id, None)


# Deployed versions by id (with the row that found them): rows never change once stored.
_versions: OrderedDict[int, tuple[tuple[Any, ...], ServiceVersion]] = OrderedDict()
_ACTIVE_VERSION = (
    "SELECT id, sha256, deployed_at FROM {table} WHERE service_id = %s AND activates_at <= %s"
    " ORDER BY activates_at DESC, version DESC LIMIT 1"
)


def active_version(*, service: Service, at: Any = None) -> ServiceVersion:
    """The version new cases of `service` start on at `at` (default now): the
    latest-activating one whose date has passed (as `selectors.service_version_active_at`)."""
    moment = at or timezone.now()
    found = sql.select_one(
        ServiceVersion,
        _ACTIVE_VERSION,
        [service.pk, sql.datetime_param(ServiceVersion, moment)],
    )
    if found is None:
        raise ServiceNotActive(f"No version of {service.code!r} is active at {moment.isoformat()}.")
    pk = found[0]
    with _lock:
        cached = _versions.get(pk)
        # the digest and time guard against a row id used again (a test database rolled back)
        if cached is not None and cached[0] == found:
            _versions.move_to_end(pk)
            return cached[1]
    version = ServiceVersion.objects.select_related("service__agency").get(pk=pk)
    with _lock:
        _versions[pk] = (found, version)
        while len(_versions) > _CACHE_SIZE:
            _versions.popitem(last=False)
    return version
