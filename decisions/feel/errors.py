"""Errors raised by the FEEL engine.

Evaluation-time type errors do not raise: per the DMN specification they yield null, and the
interpreter records a warning instead. Only syntax errors and exhausted limits raise.
"""

from __future__ import annotations


class FeelError(Exception):
    """Base class of every error the FEEL engine raises."""


class FeelSyntaxError(FeelError):
    """The text is not a FEEL expression (or unary tests); carries where it went wrong."""

    def __init__(self, message: str, position: int = 0, line: int = 1, column: int = 1) -> None:
        super().__init__(f"{message} at {line}:{column}")
        self.message = message
        self.position = position
        self.line = line
        self.column = column


class FeelLimitExceeded(FeelError):
    """An evaluation used more steps, time, memory or nesting than its `Limits` allow."""
