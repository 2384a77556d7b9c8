"""The FEEL lexer: text to tokens, each with its source span."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FeelSyntaxError

# Token kinds
NAME = "name"
NUMBER = "number"
STRING = "string"
TEMPORAL = "temporal"
OP = "op"
EOF = "eof"

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "for",
        "in",
        "return",
        "if",
        "then",
        "else",
        "some",
        "every",
        "satisfies",
        "instance",
        "of",
        "between",
        "function",
        "true",
        "false",
        "null",
        "external",
    }
)

_OPERATORS = (
    "**",
    "..",
    "<=",
    ">=",
    "!=",
    "->",
    "+",
    "-",
    "*",
    "/",
    "=",
    "<",
    ">",
    ".",
    ",",
    ":",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "?",
)
_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200b\u2028\u2029\u3000\ufeff]+")


def _is_name_start(char: str) -> bool:
    if char < "\x80":
        return char.isalpha() or char == "_"
    return not char.isspace() and char not in "\u00a0\ufeff"


def _is_name_part(char: str) -> bool:
    if char < "\x80":
        return char.isalnum() or char == "_"
    return not char.isspace() and char not in "\u00a0\ufeff"


@dataclass(slots=True)
class Token:
    kind: str
    value: str
    start: int
    end: int


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, column), both 1-based, of an offset in text."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def syntax_error(text: str, offset: int, message: str) -> FeelSyntaxError:
    line, column = position(text, offset)
    return FeelSyntaxError(message, offset, line, column)


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a "..." literal starting at its opening quote; return (value, end offset)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < n:
            nxt = text[i + 1]
            simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\"}
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt in "uU":
                width = 4 if nxt == "u" else 6
                digits = text[i + 2 : i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    code = int(digits, 16)
                    i += 2 + width
                    # A UTF-16 surrogate pair written as two \u escapes is one code point.
                    if 0xD800 <= code <= 0xDBFF and text[i : i + 2] == "\\u":
                        low_digits = text[i + 2 : i + 6]
                        try:
                            low = int(low_digits, 16)
                        except ValueError:
                            low = 0
                        if 0xDC00 <= low <= 0xDFFF:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                    if code > 0x10FFFF:
                        raise syntax_error(text, i, "invalid unicode escape")
                    out.append(chr(code))
                    continue
                raise syntax_error(text, i, "invalid unicode escape")
            out.append(char)
            i += 1
            continue
        out.append(char)
        i += 1
    raise syntax_error(text, start, "unterminated string")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise syntax_error(text, i, "unterminated comment")
            i = end + 2
            continue
        if char == '"':
            value, end = _read_string(text, i)
            tokens.append(Token(STRING, value, i, end))
            i = end
            continue
        if char == "@" and text.startswith('"', i + 1):
            value, end = _read_string(text, i + 1)
            tokens.append(Token(TEMPORAL, value, i, end))
            i = end
            continue
        if char.isdigit() or (char == "." and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            end = match.end()
            # "1..2" is a range of integers, not the number "1." followed by ".2"
            tokens.append(Token(NUMBER, match.group(), i, end))
            i = end
            continue
        if _is_name_start(char):
            j = i + 1
            while j < n and _is_name_part(text[j]):
                j += 1
            tokens.append(Token(NAME, text[i:j], i, j))
            i = j
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(OP, op, i, i + len(op)))
                i += len(op)
                break
        else:
            if char == "'":
                tokens.append(Token(OP, "'", i, i + 1))
                i += 1
                continue
            raise syntax_error(text, i, f"unexpected character {char!r}")
    tokens.append(Token(EOF, "", n, n))
    return tokens
