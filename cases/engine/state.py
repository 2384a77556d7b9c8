"""A case's workflow state, compact: SpiffWorkflow's serialisation without the process spec.

SpiffWorkflow's serializer writes the whole process definition into every workflow it
saves. A service's definition is the same for all its cases, so it is parsed once per
version and cached (`cases.engine.compiled`); here only the state is kept (task tree with
states and data deltas, workflow data, pending events), as zlib-compressed JSON. Loading
takes the cached spec and puts the state back onto it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

FORMAT = 1


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self,
        dct: dict[str, Any],
        *,
        spec: BpmnProcessSpec,
        subprocess_specs: dict[str, BpmnProcessSpec],
    ) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_registry = BpmnWorkflowSerializer.configure(
    {**DEFAULT_CONFIG, BpmnWorkflow: StateOnlyWorkflowConverter}
)
_serializer = BpmnWorkflowSerializer(registry=_registry)


def snapshot(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The state now, as plain data the workflow no longer shares (see `dump_snapshot`)."""
    state: dict[str, Any] = _serializer.to_dict(workflow)
    return state


def dump_snapshot(state: dict[str, Any]) -> bytes:
    text = json.dumps({**state, "format": FORMAT}, separators=(",", ":"), default=str)
    return zlib.compress(text.encode("utf-8"), 6)


def dump(workflow: BpmnWorkflow) -> bytes:
    return dump_snapshot(snapshot(workflow))


def load(
    blob: bytes | memoryview,
    *,
    spec: BpmnProcessSpec,
    subprocess_specs: dict[str, BpmnProcessSpec],
) -> BpmnWorkflow:
    state = json.loads(zlib.decompress(bytes(blob)))
    state.pop("format", None)
    workflow: BpmnWorkflow = _serializer.from_dict(
        state, spec=spec, subprocess_specs=subprocess_specs
    )
    return workflow
