"""A Pratt parser for FEEL expressions and unary tests (DMN 1.5, chapter 10 grammar)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from decimal import Decimal

from . import nodes as n
from .errors import FeelLimitExceeded
from .lexer import EOF, KEYWORDS, NAME, NUMBER, OP, STRING, TEMPORAL, Token, syntax_error, tokenize
from .temporal import parse_temporal
from .values import DECIMAL_CONTEXT

MAX_PARSE_DEPTH = 200
MAX_TEXT_LENGTH = 1_000_000

# Binding powers (higher binds tighter).
_OR, _AND, _COMPARE, _INSTANCE, _ADD, _MUL, _POW, _POSTFIX = 10, 20, 30, 35, 40, 50, 60, 80
_COMPARE_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_TYPE_NAMES = (
    "years and months duration",
    "days and time duration",
    "date and time",
)
_AFTER_RANGE = frozenset(
    {")", "]", ",", "}", ".", "=", "!=", "<", "<=", ">", ">=", "+", "*", "/", ":"}
)
_KEYWORD_OPERATORS = frozenset(
    {"and", "or", "in", "then", "else", "return", "satisfies", "between", "instance"}
)
_NAME_START = re.compile(r"[^\W\d]\w*")


@functools.lru_cache(maxsize=4096)
def _name_pattern(name: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in name.split()]
    tail = r"(?!\w)" if name[-1:].isalnum() or name.endswith("_") else ""
    return re.compile(r"\s+".join(parts) + tail)


class KnownNames:
    """Names in scope that are more than one token long ("Applicant Age", "date and time")."""

    def __init__(self, names: Iterable[str]) -> None:
        self.by_first: dict[str, list[str]] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        name = " ".join(name.split())
        match = _NAME_START.match(name)
        if not match or match.end() == len(name):
            return
        entries = self.by_first.setdefault(match.group(), [])
        if name not in entries:
            entries.append(name)
            entries.sort(key=len, reverse=True)


class Parser:
    def __init__(self, text: str, names: Iterable[str]) -> None:
        if len(text) > MAX_TEXT_LENGTH:
            raise FeelLimitExceeded("expression text too long")
        self.text = text
        self.tokens: list[Token] = tokenize(text)
        self.i = 0
        self.depth = 0
        self.range_end_depth = -1  # depth at which a '[' may close a range instead of filtering
        self.known = KnownNames(names)
        self.uses_input = False  # whether `?` occurs

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def at(self, value: str) -> bool:
        tok = self.tokens[self.i]
        return tok.value == value and tok.kind in (OP, NAME)

    def at_keyword(self, value: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == NAME and tok.value == value

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def expect(self, value: str) -> Token:
        if not self.at(value):
            raise self.error(f"expected {value!r}")
        return self.advance()

    def error(self, message: str, tok: Token | None = None) -> Exception:
        tok = tok or self.tok
        found = "end of input" if tok.kind == EOF else repr(self.text[tok.start : tok.end])
        return syntax_error(self.text, tok.start, f"{message}, found {found}")

    def finish(self) -> None:
        if self.tok.kind != EOF:
            raise self.error("unexpected text after the expression")

    # -- expressions ---------------------------------------------------------------------------
    def expression(self, bp: int = 0) -> n.Node:
        self.depth += 1
        if self.depth > MAX_PARSE_DEPTH:
            raise FeelLimitExceeded("expression nested too deeply")
        try:
            left = self.prefix()
            while True:
                nxt = self.infix(left, bp)
                if nxt is None:
                    return left
                left = nxt
        finally:
            self.depth -= 1

    def infix(self, left: n.Node, bp: int) -> n.Node | None:
        tok = self.tok
        value = tok.value
        if tok.kind == OP:
            if value in ("+", "-") and bp < _ADD:
                self.advance()
                return n.Arithmetic(value, left, self.expression(_ADD), pos=tok.start)
            if value in ("*", "/") and bp < _MUL:
                self.advance()
                return n.Arithmetic(value, left, self.expression(_MUL), pos=tok.start)
            if value == "**" and bp < _POW:
                self.advance()
                return n.Arithmetic(value, left, self.expression(_POW), pos=tok.start)
            if value in _COMPARE_OPS and bp < _COMPARE:
                self.advance()
                return n.Comparison(value, left, self.expression(_COMPARE), pos=tok.start)
            if value == "." and bp < _POSTFIX:
                self.advance()
                return n.Path(left, self.path_name(), pos=tok.start)
            if value == "[" and bp < _POSTFIX and not self.closes_range():
                self.advance()
                condition = self.expression()
                self.expect("]")
                return n.Filter(left, condition, pos=tok.start)
            if value == "(" and bp < _POSTFIX:
                return self.call(left)
            return None
        if tok.kind != NAME:
            return None
        if value == "and" and bp < _AND:
            self.advance()
            return n.Logical("and", left, self.expression(_AND), pos=tok.start)
        if value == "or" and bp < _OR:
            self.advance()
            return n.Logical("or", left, self.expression(_OR), pos=tok.start)
        if value == "between" and bp < _COMPARE:
            self.advance()
            low = self.expression(_COMPARE)
            if not self.at_keyword("and"):
                raise self.error("expected 'and' in between")
            self.advance()
            high = self.expression(_COMPARE)
            return n.Between(left, low, high, pos=tok.start)
        if value == "in" and bp < _COMPARE:
            self.advance()
            return n.In(left, self.in_tests(), pos=tok.start)
        if value == "instance" and self.peek().value == "of" and bp < _INSTANCE:
            self.advance()
            self.advance()
            return n.InstanceOf(left, self.type_ref(), pos=tok.start)
        return None

    def closes_range(self) -> bool:
        """Whether the '[' here closes a range like [1..10[ rather than opening a filter."""
        if self.depth != self.range_end_depth:
            return False
        nxt = self.peek()
        if nxt.kind == EOF:
            return True
        if nxt.kind == OP:
            return nxt.value in _AFTER_RANGE
        return nxt.kind == NAME and nxt.value in _KEYWORD_OPERATORS

    def range_end(self) -> n.Node:
        saved = self.range_end_depth
        self.range_end_depth = self.depth + 1
        try:
            return self.expression()
        finally:
            self.range_end_depth = saved

    def in_tests(self) -> list[n.Node]:
        if self.at("("):
            start = self.i
            self.advance()
            first = self.positive_test(_COMPARE)
            if self.at(","):
                tests = [first]
                while self.at(","):
                    self.advance()
                    tests.append(self.positive_test(_COMPARE))
                self.expect(")")
                return tests
            self.i = start  # a parenthesised expression or an open range: parse it whole
        return [self.positive_test(_COMPARE)]

    def positive_test(self, bp: int) -> n.Node:
        tok = self.tok
        if tok.kind == OP and tok.value in _COMPARE_OPS:
            self.advance()
            return n.UnaryCompare(tok.value, self.expression(_COMPARE), pos=tok.start)
        return self.expression(bp)

    def prefix(self) -> n.Node:
        tok = self.tok
        kind, value = tok.kind, tok.value
        if kind == NUMBER:
            self.advance()
            try:
                number = DECIMAL_CONTEXT.plus(Decimal(value))
            except ArithmeticError:
                raise syntax_error(self.text, tok.start, "number out of range") from None
            return n.Literal(number, pos=tok.start)
        if kind == STRING:
            self.advance()
            return n.Literal(value, pos=tok.start)
        if kind == TEMPORAL:
            self.advance()
            parsed = parse_temporal(value)
            if parsed is None:
                return n.InvalidLiteral(value, pos=tok.start)
            return n.Literal(parsed, pos=tok.start)
        if kind == OP:
            if value == "-":
                self.advance()
                return n.Negate(self.expression(_POW), pos=tok.start)
            if value == "+":
                self.advance()
                return self.expression(_POW)
            if value == "?":
                self.advance()
                self.uses_input = True
                return n.Name("?", pos=tok.start)
            if value == "(":
                return self.paren_or_range()
            if value == "[":
                return self.list_or_range()
            if value == "]":
                self.advance()
                return self.range_rest(tok, False)
            if value == "{":
                return self.context()
            if value in _COMPARE_OPS:
                self.advance()
                endpoint = self.expression(_COMPARE)
                return n.UnaryCompare(value, endpoint, pos=tok.start)
            raise self.error("expected an expression")
        if kind == NAME:
            if value == "true" or value == "false":
                self.advance()
                return n.Literal(value == "true", pos=tok.start)
            if value == "null":
                self.advance()
                return n.Literal(None, pos=tok.start)
            if value == "if":
                return self.if_expression()
            if value == "for":
                return self.for_expression()
            if value in ("some", "every") and self.peek().kind == NAME:
                return self.quantified()
            if value == "function" and self.peek().value == "(":
                return self.function_definition()
            return n.Name(self.name(), pos=tok.start)
        raise self.error("expected an expression")

    # -- names ---------------------------------------------------------------------------------
    def name(self) -> str:
        """A (possibly multi-word) name: the longest known name here, else adjacent words."""
        tok = self.tok
        if tok.kind != NAME:
            raise self.error("expected a name")
        for candidate in self.known.by_first.get(tok.value, ()):
            match = _name_pattern(candidate).match(self.text, tok.start)
            if not match:
                continue
            end = match.end()
            j = self.i
            while self.tokens[j].end < end and self.tokens[j].kind != EOF:
                j += 1
            if self.tokens[j].end == end:
                self.i = j + 1
                return candidate
        if tok.value in KEYWORDS:
            raise self.error("expected a name")
        self.advance()
        words = [tok.value]
        while self.tok.kind == NAME and self.tok.value not in KEYWORDS:
            words.append(self.advance().value)
        return " ".join(words)

    def path_name(self) -> str:
        tok = self.tok
        if tok.kind == STRING:
            self.advance()
            return tok.value
        if tok.kind != NAME:
            raise self.error("expected a name after '.'")
        self.advance()
        words = [tok.value]
        while self.tok.kind == NAME and self.tok.value not in KEYWORDS:
            words.append(self.advance().value)
        return " ".join(words)

    def key_until(self, stops: tuple[str, ...]) -> str:
        """A context key or named argument: a string literal or the text up to ':'."""
        tok = self.tok
        if tok.kind == STRING and self.peek().value == ":":
            self.advance()
            return tok.value
        start = tok.start
        while not (self.tok.kind == OP and self.tok.value in stops) and self.tok.kind != EOF:
            self.advance()
        if self.i == 0 or self.tokens[self.i - 1].end <= start:
            raise self.error("expected a name")
        key = " ".join(self.text[start : self.tokens[self.i - 1].end].split())
        self.known.add(key)
        return key

    # -- compound forms ------------------------------------------------------------------------
    def paren_or_range(self) -> n.Node:
        open_tok = self.advance()
        inner = self.expression()
        if self.at(".."):
            self.advance()
            end = self.range_end()
            return self.range_close(open_tok, inner, end, False)
        self.expect(")")
        return inner

    def list_or_range(self) -> n.Node:
        open_tok = self.advance()
        if self.at("]"):
            self.advance()
            return n.ListNode([], pos=open_tok.start)
        first = self.expression()
        if self.at(".."):
            self.advance()
            end = self.range_end()
            return self.range_close(open_tok, first, end, True)
        items = [first]
        while self.at(","):
            self.advance()
            items.append(self.expression())
        self.expect("]")
        return n.ListNode(items, pos=open_tok.start)

    def range_rest(self, open_tok: Token, start_included: bool) -> n.Node:
        start = self.expression()
        self.expect("..")
        end = self.range_end()
        return self.range_close(open_tok, start, end, start_included)

    def range_close(
        self, open_tok: Token, start: n.Node, end: n.Node, start_included: bool
    ) -> n.Node:
        tok = self.tok
        if tok.kind == OP and tok.value == "]":
            end_included = True
        elif tok.kind == OP and tok.value in (")", "["):
            end_included = False
        else:
            raise self.error("expected ']', ')' or '[' to close the range")
        self.advance()
        return n.RangeNode(start, end, start_included, end_included, pos=open_tok.start)

    def context(self) -> n.Node:
        open_tok = self.advance()
        entries: list[tuple[str, n.Node]] = []
        if self.at("}"):
            self.advance()
            return n.ContextNode(entries, pos=open_tok.start)
        while True:
            key = self.key_until((":",))
            self.expect(":")
            entries.append((key, self.expression()))
            if self.at(","):
                self.advance()
                continue
            self.expect("}")
            return n.ContextNode(entries, pos=open_tok.start)

    def call(self, callee: n.Node) -> n.Node:
        open_tok = self.advance()
        if self.at(")"):
            self.advance()
            return n.Call(callee, [], pos=open_tok.start)
        if self.named_argument_ahead():
            named: list[tuple[str, n.Node]] = []
            while True:
                key = self.key_until((":",))
                self.expect(":")
                named.append((key, self.expression()))
                if self.at(","):
                    self.advance()
                    continue
                self.expect(")")
                return n.Call(callee, [], named, pos=open_tok.start)
        args = [self.expression()]
        while self.at(","):
            self.advance()
            args.append(self.expression())
        self.expect(")")
        return n.Call(callee, args, pos=open_tok.start)

    def named_argument_ahead(self) -> bool:
        """Whether a ':' comes before the first ',' or ')' at this nesting level."""
        depth = 0
        for tok in self.tokens[self.i :]:
            if tok.kind != OP:
                continue
            if tok.value in ("(", "[", "{"):
                depth += 1
            elif tok.value in (")", "]", "}"):
                if depth == 0:
                    return False
                depth -= 1
            elif depth == 0 and tok.value == ",":
                return False
            elif depth == 0 and tok.value == ":":
                return True
        return False

    def if_expression(self) -> n.Node:
        tok = self.advance()
        condition = self.expression()
        if not self.at_keyword("then"):
            raise self.error("expected 'then'")
        self.advance()
        then = self.expression()
        if not self.at_keyword("else"):
            raise self.error("expected 'else'")
        self.advance()
        return n.If(condition, then, self.expression(), pos=tok.start)

    def iterations(self, allow_range: bool) -> list[n.Iteration]:
        result: list[n.Iteration] = []
        while True:
            name = self.name()
            self.known.add(name)
            if not self.at_keyword("in"):
                raise self.error("expected 'in'")
            self.advance()
            domain = self.expression()
            upper = None
            if allow_range and self.at(".."):
                self.advance()
                upper = self.expression()
            result.append(n.Iteration(name, domain, upper))
            if not self.at(","):
                return result
            self.advance()

    def for_expression(self) -> n.Node:
        tok = self.advance()
        iterations = self.iterations(True)
        if not self.at_keyword("return"):
            raise self.error("expected 'return'")
        self.advance()
        return n.For(iterations, self.expression(), pos=tok.start)

    def quantified(self) -> n.Node:
        tok = self.advance()
        iterations = self.iterations(False)
        if not self.at_keyword("satisfies"):
            raise self.error("expected 'satisfies'")
        self.advance()
        return n.Quantified(tok.value, iterations, self.expression(), pos=tok.start)

    def function_definition(self) -> n.Node:
        tok = self.advance()
        self.expect("(")
        params: list[tuple[str, n.FeelType | None]] = []
        if not self.at(")"):
            while True:
                name = self.name()
                self.known.add(name)
                type_ref = None
                if self.at(":"):
                    self.advance()
                    type_ref = self.type_ref()
                params.append((name, type_ref))
                if not self.at(","):
                    break
                self.advance()
        self.expect(")")
        external = False
        if self.at_keyword("external"):
            self.advance()
            external = True
        return n.FunctionDef(params, self.expression(), external, pos=tok.start)

    def type_ref(self) -> n.FeelType:
        tok = self.tok
        if tok.kind != NAME:
            raise self.error("expected a type")
        for candidate in _TYPE_NAMES:
            if _name_pattern(candidate).match(self.text, tok.start):
                self.name_tokens(len(candidate.split()))
                return n.FeelType(candidate)
        if tok.value in ("list", "range") and self.peek().value == "<":
            self.advance()
            self.advance()
            inner = self.type_ref()
            self.expect_close_angle()
            return n.FeelType(tok.value, [inner])
        if tok.value == "context" and self.peek().value == "<":
            self.advance()
            self.advance()
            fields: list[tuple[str, n.FeelType]] = []
            while True:
                key = self.key_until((":",))
                self.expect(":")
                fields.append((key, self.type_ref()))
                if not self.at(","):
                    break
                self.advance()
            self.expect_close_angle()
            return n.FeelType("context", fields=fields)
        if tok.value == "function" and self.peek().value == "<":
            self.advance()
            self.advance()
            params: list[n.FeelType] = []
            if not self.at(">"):
                while True:
                    params.append(self.type_ref())
                    if not self.at(","):
                        break
                    self.advance()
            self.expect_close_angle()
            self.expect("->")
            result = self.type_ref()
            return n.FeelType("function", [*params, result])
        words = [self.advance().value]
        while self.at("."):
            self.advance()
            words.append(self.path_name())
        while self.tok.kind == NAME and self.tok.value not in KEYWORDS:
            words[-1] += " " + self.advance().value
        return n.FeelType(".".join(words))

    def name_tokens(self, count: int) -> None:
        for _ in range(count):
            self.advance()

    def expect_close_angle(self) -> None:
        if self.at(">"):
            self.advance()
            return
        if self.at(">="):  # "list<number>=..." is not a thing; keep the message clear
            raise self.error("expected '>'")
        raise self.error("expected '>'")

    # -- unary tests ---------------------------------------------------------------------------
    def unary_tests(self) -> n.UnaryTestsNode:
        tok = self.tok
        if tok.kind == OP and tok.value == "-" and self.peek().kind == EOF:
            self.advance()
            return n.UnaryTestsNode([], any=True, pos=tok.start)
        if tok.kind == EOF:
            return n.UnaryTestsNode([], any=True, pos=tok.start)
        if tok.kind == NAME and tok.value == "not" and self.peek().value == "(":
            start = self.i
            self.advance()
            self.advance()
            tests = self.positive_tests()
            if self.at(")") and self.peek().kind == EOF:
                self.advance()
                return n.UnaryTestsNode(tests, negated=True, pos=tok.start)
            self.i = start  # `not(x) or y`: an ordinary expression
            self.uses_input = False
        tests = self.positive_tests()
        self.finish()
        return n.UnaryTestsNode(tests, pos=tok.start)

    def positive_tests(self) -> list[n.Node]:
        tests = [self.positive_test(0)]
        while self.at(","):
            self.advance()
            tests.append(self.positive_test(0))
        return tests


def parse(text: str, names: Iterable[str]) -> n.Node:
    parser = Parser(text, names)
    if parser.tok.kind == EOF:
        raise parser.error("expected an expression")
    node = parser.expression()
    parser.finish()
    return node


def parse_tests(text: str, names: Iterable[str]) -> tuple[n.UnaryTestsNode, bool]:
    parser = Parser(text, names)
    node = parser.unary_tests()
    return node, parser.uses_input
