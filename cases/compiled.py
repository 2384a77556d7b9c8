"""A service version, parsed once per process: the SpiffWorkflow spec, forms, queues, decisions.

Versions never change once deployed, so what is built from one is kept (by id and digest)
for the life of the process; every case of the version shares it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator

from cases import forms
from cases.connectors import CONNECTORS
from cases.definition import DEFAULT_PRIORITY, Queue, parse_duration
from cases.engine.bpmn import ParsedProcess, read_process
from cases.models import ServiceVersion
from decisions.models import DecisionModel


@dataclass(frozen=True)
class DecisionTarget:
    model: DecisionModel
    decision: str
    input_names: tuple[str, ...]


@dataclass
class CompiledService:
    version_id: int
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
