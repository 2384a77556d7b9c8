"""Errors raised by the DMN engine.

Model problems (malformed XML, unknown namespaces, broken references, unsupported constructs)
raise `DmnModelError`, naming the element id and its line and column. Evaluation-time problems
that the DMN specification turns into null (type mismatches, hit-policy violations, undefined
names) do not raise: they are recorded in the evaluation trace.
"""

from __future__ import annotations

from core.errors import ApplicationError


class DmnError(ApplicationError):
    code = "dmn_error"
    status = 400
    title = "The decision model could not be used"


class DmnModelError(DmnError):
    """The DMN XML is not a model this engine can evaluate."""

    code = "dmn_model_invalid"
    title = "The decision model is not valid"

    def __init__(
        self,
        message: str,
        *,
        element_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
        source: str | None = None,
    ) -> None:
        where = []
        if source:
            where.append(source)
        if element_id:
            where.append(f"element '{element_id}'")
        if line is not None:
            where.append(f"line {line}" + (f", column {column}" if column is not None else ""))
        detail = f"{message} ({'; '.join(where)})" if where else message
        super().__init__(detail)
        self.message = message
        self.element_id = element_id
        self.line = line
        self.column = column


class DmnUnsupportedError(DmnModelError):
    code = "dmn_unsupported"
    title = "The decision model uses a construct this engine does not support"


class DmnEvaluationError(DmnError):
    """Evaluation could not finish (unknown decision, exhausted limits): never a silent null."""

    code = "dmn_evaluation_failed"
    title = "The decision could not be evaluated"
