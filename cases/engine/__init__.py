"""The workflow side of the case engine: BPMN reading, compact state, the step runner."""
