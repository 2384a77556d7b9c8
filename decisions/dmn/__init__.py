"""DMN 1.1-1.5 decision models for CivicStack (see docs/adr/0006-dmn-engine.md).

Public API: `parse_dmn`, `DmnModel` (`evaluate`, `evaluate_service`, `evaluate_all`),
`load_model`, `EvaluationResult`, `Trace` with `explain_text` / `explain_rows`, and the errors.
"""

from decisions.dmn.errors import (
    DmnError,
    DmnEvaluationError,
    DmnModelError,
    DmnUnsupportedError,
)
from decisions.dmn.evaluator import DmnModel, EvaluationResult, load_model
from decisions.dmn.parser import parse_dmn
from decisions.dmn.trace import Trace, explain_rows, explain_text

__all__ = [
    "DmnError",
    "DmnEvaluationError",
    "DmnModel",
    "DmnModelError",
    "DmnUnsupportedError",
    "EvaluationResult",
    "Trace",
    "explain_rows",
    "explain_text",
    "load_model",
    "parse_dmn",
]
