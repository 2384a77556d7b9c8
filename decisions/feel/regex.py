"""XML Schema / XPath regular expressions (as FEEL's matches, replace and split use them),
translated to Python `re`, refusing patterns that could backtrack catastrophically."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

MAX_PATTERN_LENGTH = 1000
MAX_INPUT_LENGTH = 100_000

_CATEGORIES = {
    "L": r"^\W\d_",
    "Nd": r"\d",
    "N": r"\d",
    "P": r"!-/:-@\[-`{-~\u00a1-\u00bf",
    "Z": r"\s",
    "Zs": r" \u00a0\u2000-\u200a\u3000",
    "Lu": r"A-Z\u00c0-\u00d6\u00d8-\u00de",
    "Ll": r"a-z\u00df-\u00f6\u00f8-\u00ff",
    "IsBasicLatin": r"\x00-\x7f",
    "IsLatin-1Supplement": r"\x80-\xff",
}


class RegexError(ValueError):
    """The pattern or flags are not acceptable."""


def _quantifier_at(pattern: str, i: int) -> int:
    """Length of an unbounded or large quantifier at i (0 if none)."""
    if i >= len(pattern):
        return 0
    if pattern[i] in "*+":
        return 1
    if pattern[i] == "{":
        match = re.match(r"\{(\d+)(,(\d*))?\}", pattern[i:])
        if match and (match[2] and (not match[3] or int(match[3]) > 1)):
            return match.end()
    return 0


def _check_backtracking(pattern: str) -> None:
    """Refuse a quantified group that itself contains a quantifier, e.g. (a+)+ or (a*)*."""
    stack: list[bool] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            if stack and _quantifier_at(pattern, i):
                stack[-1] = True
            continue
        if in_class:
            if char == "]":
                in_class = False
                if stack and _quantifier_at(pattern, i + 1):
                    stack[-1] = True
            i += 1
            continue
        if char == "[":
            in_class = True
        elif char == "(":
            stack.append(False)
        elif char == ")":
            inner = stack.pop() if stack else False
            if inner and _quantifier_at(pattern, i + 1):
                raise RegexError("nested quantifiers could take exponential time")
            if stack and (inner or _quantifier_at(pattern, i + 1)):
                stack[-1] = True
        elif _quantifier_at(pattern, i) and stack:
            stack[-1] = True
        i += 1


def _translate(pattern: str, flags: str) -> str:
    out: list[str] = []
    in_class = False
    multiline = "m" in flags
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise RegexError("pattern ends with a backslash")
            nxt = pattern[i + 1]
            if nxt in "pP":
                match = re.match(r"\{([\w-]+)\}", pattern[i + 2 :])
                if not match or match[1] not in _CATEGORIES:
                    raise RegexError("unsupported character category")
                body = _CATEGORIES[match[1]]
                negate = (nxt == "P") != body.startswith("^")
                body = body.lstrip("^")
                if in_class:
                    if negate:
                        raise RegexError("negated category inside a class is not supported")
                    out.append(body)
                else:
                    out.append(("[^" if negate else "[") + body + "]")
                i += 2 + match.end()
                continue
            if nxt in "ic":
                raise RegexError("\\i and \\c are not supported")
            if in_class and nxt.isdigit():
                raise RegexError("a back-reference cannot appear in a character class")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[" and out and out[-1] == "-":
                # [A-Z-[OI]]: subtraction, as a lookahead excluding the inner class
                close = pattern.find("]", i)
                if close < 0 or pattern[close + 1 : close + 2] != "]":
                    raise RegexError("unsupported character class subtraction")
                out.pop()
                start = "".join(out).rfind("[")
                outer = "".join(out)[start:]
                out = [*"".join(out)[:start], "(?:(?!", _translate(pattern[i : close + 1], ""),
                       ")", outer, "])"]  # fmt: skip
                in_class = False
                i = close + 2
                continue
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            i += 1
            continue
        if char == "." and "s" not in flags:
            out.append("[^\\n\\r]")
            i += 1
            continue
        if char == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] != ":":
            raise RegexError("only (?: groups are supported")
        if char == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _strip_whitespace(pattern: str) -> str:
    """The x flag: whitespace outside character classes is ignored."""
    out = []
    in_class = False
    for char in pattern:
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char in " \t\r\n" and not in_class:
            continue
        out.append(char)
    return "".join(out)


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str, flags: str = "") -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError("pattern too long")
    if any(flag not in "smixq" for flag in flags):
        raise RegexError(f"invalid flags {flags!r}")
    python_flags = 0
    if "s" in flags:
        python_flags |= re.DOTALL
    if "m" in flags:
        python_flags |= re.MULTILINE
    if "i" in flags:
        python_flags |= re.IGNORECASE
    if "q" in flags:
        return re.compile(re.escape(pattern), python_flags)
    if "x" in flags:
        pattern = _strip_whitespace(pattern)
    _check_backtracking(pattern)
    try:
        return re.compile(_translate(pattern, flags), python_flags)
    except re.error as exc:
        raise RegexError(f"invalid pattern: {exc}") from None


def check_input(text: str) -> None:
    if len(text) > MAX_INPUT_LENGTH:
        raise RegexError("input too long for a regular expression")


def replacement_function(replacement: str, flags: str) -> Callable[[re.Match[str]], str]:
    """XPath replacement strings: $n is group n, \\$ and \\\\ are literal."""
    if "q" in flags:
        return lambda match: replacement
    parts: list[str | int] = []
    i = 0
    literal: list[str] = []
    while i < len(replacement):
        char = replacement[i]
        if char == "\\":
            if replacement[i + 1 : i + 2] in ("\\", "$"):
                literal.append(replacement[i + 1])
                i += 2
                continue
            raise RegexError("invalid escape in replacement")
        if char == "$":
            match = re.match(r"\d+", replacement[i + 1 :])
            if not match:
                raise RegexError("'$' must be followed by a group number")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(int(match.group()))
            i += 1 + match.end()
            continue
        literal.append(char)
        i += 1
    if literal:
        parts.append("".join(literal))

    def replace(match: re.Match[str]) -> str:
        out = []
        for part in parts:
            if isinstance(part, int):
                if part <= (match.re.groups or 0):
                    out.append(match.group(part) or "")
            else:
                out.append(part)
        return "".join(out)

    return replace
