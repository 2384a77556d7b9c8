"""Evaluation of DMN models: the decision requirement graph and every boxed expression.

`DmnModel.evaluate(decision, inputs)` evaluates the required decisions first, each once per
evaluation (memoised), binds input data with type checks, calls business knowledge models and
decision services as FEEL functions, and returns the result with a `Trace`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from decisions import feel
from decisions.dmn import model as m
from decisions.dmn.errors import DmnEvaluationError, DmnModelError, DmnUnsupportedError
from decisions.dmn.itemtypes import ANY, DmnType, ItemType, TypeSystem, UnknownType, render
from decisions.dmn.parser import parse_dmn
from decisions.dmn.trace import NodeTrace, RuleTrace, TableTrace, Trace

MAX_SECONDS = 5.0
MAX_DEPTH = 150
# The FEEL budget of one whole evaluation (every expression and test of every decision in it),
# unless the model is given its own limits.
DEFAULT_LIMITS = feel.Limits(max_seconds=MAX_SECONDS)
_UNSET: Any = object()


@dataclass
class EvaluationResult:
    result: Any
    outputs: dict[str, Any]  # every decision evaluated, by name
    trace: Trace
    messages: list[str] = field(default_factory=list)


class _Run:
    """The state of one evaluation: inputs, memoised decisions, trace, budget."""

    def __init__(
        self,
        inputs: Mapping[m.Ref, Any],
        *,
        trace: Trace,
        deadline: float,
        overrides: Mapping[m.Ref, Any] | None = None,
        limits: feel.Limits | None = None,
        session: feel.Session | None = None,
    ) -> None:
        self.inputs = inputs
        self.overrides = dict(overrides or {})
        self.memo: dict[m.Ref, Any] = {}
        self.active: set[m.Ref] = set()
        self.outputs: dict[str, Any] = {}
        self.trace = trace
        self.deadline = deadline
        self.limits = limits
        # one FEEL state for every expression of the evaluation: one step and time budget
        self.session = session or feel.Session(limits or DEFAULT_LIMITS)
        self.depth = 0
        self.node: NodeTrace | None = None

    def child(self, inputs: Mapping[m.Ref, Any], overrides: Mapping[m.Ref, Any]) -> _Run:
        run = _Run(
            inputs,
            trace=self.trace,
            deadline=self.deadline,
            overrides=overrides,
            limits=self.limits,
            session=self.session,
        )
        run.depth = self.depth
        return run


@dataclass
class _Ctx:
    """Where an expression is evaluated: its definitions (for types and names) and the run."""

    defs: m.Definitions
    run: _Run
    node: NodeTrace


class DmnModel:
    """One or more DMN definitions (the first is the main model; others may be imported)."""

    def __init__(
        self, definitions: Iterable[m.Definitions], *, limits: feel.Limits | None = None
    ) -> None:
        self.all = list(definitions)
        if not self.all:
            raise DmnModelError("no DMN definitions given")
        self.main = self.all[0]
        self.by_namespace: dict[str, m.Definitions] = {}
        for defs in self.all:
            self.by_namespace.setdefault(defs.namespace, defs)
        self.types = TypeSystem(self.by_namespace)
        self.limits = limits
        names: set[str] = set()
        for defs in self.all:
            for item in defs.item_definitions.values():
                _component_names(item, names)
            names.update(i.name for i in defs.imports)
        self.extra_names = frozenset(names)
        self._resolvers: dict[str, Any] = {}
        self._needs: dict[m.Ref, Any] = {}
        self._input_types: dict[m.Ref, DmnType] = {}
        self._validate()
        self._by_name: dict[tuple[str, str], m.DrgElement] = {}
        for defs in reversed(self.all):
            for element in defs.elements.values():
                self._by_name[(defs.namespace, element.name)] = element
        main = self.main.namespace
        # the main model's elements by name: how callers usually name inputs
        self._main_refs: dict[str, m.Ref] = {
            name: element.ref
            for (namespace, name), element in self._by_name.items()
            if namespace == main
        }
        self._targets: dict[tuple[str, type], m.DrgElement] = {}

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def from_xml(
        cls,
        data: str | bytes,
        *,
        source: str | None = None,
        imports: Iterable[m.Definitions] = (),
        limits: feel.Limits | None = None,
    ) -> DmnModel:
        return cls([parse_dmn(data, source=source), *imports], limits=limits)

    def _validate(self) -> None:
        """References resolve, typeRefs are known, FEEL parses, no unsupported constructs."""
        for defs in self.all:
            self._check_feel(defs)
            for element in defs.elements.values():
                self._check_type(element.type_ref, defs, element)
                refs: list[m.Ref] = []
                if isinstance(element, m.Decision):
                    refs = [*element.required_decisions, *element.required_inputs]
                    refs += element.required_knowledge
                    self._check_expression(element.expression, defs)
                elif isinstance(element, m.BusinessKnowledgeModel):
                    refs = list(element.required_knowledge)
                    self._check_expression(element.logic, defs)
                elif isinstance(element, m.DecisionService):
                    refs = [*element.output_decisions, *element.encapsulated_decisions]
                    refs += [*element.input_decisions, *element.input_data]
                for ref in refs:
                    if self._find(ref) is None:
                        raise DmnModelError(
                            f"'{element.name}' refers to '{ref.id}', which is not in the model"
                            + (f" or its imports ({ref.namespace})" if ref.namespace else ""),
                            element_id=element.id,
                            line=element.line,
                            column=element.column,
                            source=defs.source,
                        )
                    if ref.namespace != defs.namespace and defs.import_name(ref.namespace) is None:
                        raise DmnModelError(
                            f"'{element.name}' refers to namespace '{ref.namespace}', which it "
                            "does not import",
                            element_id=element.id,
                            line=element.line,
                            source=defs.source,
                        )

    def _check_feel(self, defs: m.Definitions) -> None:
        """Every FEEL text in the model parses: a syntax error is a model error, found at load."""
        names: set[str] = set(self.extra_names)
        texts: list[m.LiteralExpression | m.UnaryTestsText] = []
        _collect(defs, names, texts)
        known = frozenset(names)
        for item in texts:
            try:
                if isinstance(item, m.LiteralExpression):
                    if item.text.strip():
                        feel.parse_expression(item.text, names=known)
                else:
                    feel.parse_unary_tests(item.text, names=known)
            except feel.FeelSyntaxError as exc:
                line = item.line
                if line is not None and exc.line > 1:
                    line += exc.line - 1
                raise DmnModelError(
                    f"FEEL syntax error in '{item.text.strip()}': {exc.message} "
                    f"(expression line {exc.line}, column {exc.column})",
                    element_id=item.id,
                    line=line,
                    column=item.column,
                    source=defs.source,
                ) from None

    def _check_type(self, type_ref: str | None, defs: m.Definitions, element: m.Element) -> None:
        try:
            self.types.resolve(type_ref, defs)
        except UnknownType as exc:
            raise DmnModelError(
                f"unknown type '{exc.args[0]}'",
                element_id=element.id,
                line=element.line,
                column=element.column,
                source=defs.source,
            ) from None

    def _check_expression(self, expr: m.Expression | None, defs: m.Definitions) -> None:
        if expr is None:
            return
        self._check_type(expr.type_ref, defs, expr)
        if isinstance(expr, m.LiteralExpression):
            language = expr.expression_language
            if language and "FEEL" not in language.upper():
                raise DmnUnsupportedError(
                    f"expression language '{language}' is not supported: only FEEL",
                    element_id=expr.id,
                    line=expr.line,
                    column=expr.column,
                    source=defs.source,
                )
        elif isinstance(expr, m.FunctionDefinition):
            if expr.kind != "FEEL":
                raise DmnUnsupportedError(
                    f"{expr.kind} functions are not supported: only FEEL functions run here",
                    element_id=expr.id,
                    line=expr.line,
                    column=expr.column,
                    source=defs.source,
                )
            for param in expr.parameters:
                self._check_type(param.type_ref, defs, param)
            self._check_expression(expr.body, defs)
        elif isinstance(expr, m.Context):
            for entry in expr.entries:
                if entry.variable is not None:
                    self._check_type(entry.variable.type_ref, defs, entry.variable)
                self._check_expression(entry.expression, defs)
        elif isinstance(expr, m.ListExpression):
            for item in expr.items:
                self._check_expression(item, defs)
        elif isinstance(expr, m.Relation):
            for row in expr.rows:
                for cell in row:
                    self._check_expression(cell, defs)
        elif isinstance(expr, m.Invocation):
            self._check_expression(expr.function, defs)
            for binding in expr.bindings:
                self._check_expression(binding.expression, defs)
        elif isinstance(expr, m.Conditional):
            for part in (expr.condition, expr.then, expr.otherwise):
                self._check_expression(part, defs)
        elif isinstance(expr, (m.Filter, m.Iterator)):
            parts = (expr.source, expr.match if isinstance(expr, m.Filter) else expr.body)
            for part in parts:
                self._check_expression(part, defs)
        elif isinstance(expr, m.DecisionTable):
            for clause in expr.outputs:
                self._check_type(clause.type_ref, defs, clause)
                self._check_expression(clause.default_output, defs)
            for input_clause in expr.inputs:
                self._check_expression(input_clause.expression, defs)
            for rule in expr.rules:
                for output_entry in rule.output_entries:
                    self._check_expression(output_entry, defs)

    def _find(self, ref: m.Ref) -> m.DrgElement | None:
        defs = self.by_namespace.get(ref.namespace)
        if defs is None:
            return None
        return defs.elements.get(ref.id)

    def _defs(self, element: m.DrgElement) -> m.Definitions:
        return self.by_namespace[element.namespace]

    # --- lookups ---------------------------------------------------------------------------------

    def element(self, name_or_id: str, kind: type[m.DrgElement] = m.Decision) -> m.DrgElement:
        found = self._by_name.get((self.main.namespace, name_or_id))
        if isinstance(found, kind):
            return found
        for defs in self.all:
            found = defs.elements.get(name_or_id)
            if isinstance(found, kind):
                return found
            found = defs.by_name(name_or_id)
            if isinstance(found, kind):
                return found
        raise DmnEvaluationError(f"the model has no {kind.__name__} named '{name_or_id}'")

    def decision_names(self) -> list[str]:
        return [e.name for e in self.main.elements.values() if isinstance(e, m.Decision)]

    def input_names(self) -> list[str]:
        return [e.name for e in self.main.elements.values() if isinstance(e, m.InputData)]

    # --- evaluation ------------------------------------------------------------------------------

    def _input_refs(self, inputs: Mapping[str, Any]) -> dict[m.Ref, Any]:
        """Inputs by name ("Age") or qualified by namespace ("{namespace}Age")."""
        by_ref: dict[m.Ref, Any] = {}
        main_refs = self._main_refs
        for key, value in inputs.items():
            ref = main_refs.get(key)
            if ref is None and key.startswith("{") and "}" in key:
                namespace, _, name = key[1:].partition("}")
                element = self._by_name.get((namespace, name))
                ref = element.ref if element is not None else None
            if ref is not None:
                by_ref[ref] = value if type(value) in _FEEL_SCALARS else feel.to_feel(value)
        return by_ref

    def evaluate(self, decision: str, inputs: Mapping[str, Any]) -> EvaluationResult:
        """Evaluate a decision (by name or id) and what it requires, with a trace."""
        target = self._targets.get((decision, m.Decision))
        if target is None:
            target = self._targets[(decision, m.Decision)] = self.element(decision, m.Decision)
        assert isinstance(target, m.Decision)
        run = self._new_run(self._input_refs(inputs))
        try:
            value = self._decision(target, run)
        except RecursionError:
            raise DmnEvaluationError("evaluation nested too deeply") from None
        return EvaluationResult(value, run.outputs, run.trace, run.trace.messages)

    def evaluate_all(self, inputs: Mapping[str, Any]) -> EvaluationResult:
        """Evaluate every decision of the main model in one run (shared memo)."""
        run = self._new_run(self._input_refs(inputs))
        for element in self.main.elements.values():
            if isinstance(element, m.Decision):
                self._decision(element, run)
        return EvaluationResult(dict(run.outputs), run.outputs, run.trace, run.trace.messages)

    def evaluate_service(self, service: str, inputs: Mapping[str, Any]) -> EvaluationResult:
        """Invoke a decision service directly; its parameters are taken from `inputs` by name."""
        ds = self.element(service, m.DecisionService)
        assert isinstance(ds, m.DecisionService)
        run = self._new_run({})
        args = {name: feel.to_feel(inputs.get(name)) for name in self._service_params(ds)}
        try:
            value, outputs = self._invoke_service(ds, args, run)
        except RecursionError:
            raise DmnEvaluationError("evaluation nested too deeply") from None
        return EvaluationResult(value, outputs, run.trace, run.trace.messages)

    def _new_run(self, inputs: Mapping[m.Ref, Any]) -> _Run:
        return _Run(
            inputs, trace=Trace(), deadline=time.monotonic() + MAX_SECONDS, limits=self.limits
        )

    def _coerce(
        self, value: Any, type_ref: str | None, defs: m.Definitions, what: str, node: NodeTrace
    ) -> Any:
        if not type_ref:
            return value
        dmn_type = self._type(type_ref, defs)
        return dmn_type.coerce(value, what, node.messages)

    def _type(self, type_ref: str | None, defs: m.Definitions) -> DmnType:
        try:
            return self.types.resolve(type_ref, defs)
        except UnknownType:
            return ANY

    def _decision(self, decision: m.Decision, run: _Run) -> Any:
        ref = decision.ref
        if ref in run.overrides:
            return run.overrides[ref]
        if ref in run.memo:
            return run.memo[ref]
        if ref in run.active:
            raise DmnEvaluationError(
                f"decision '{decision.name}' requires itself (a cycle in the requirement graph)"
            )
        run.active.add(ref)
        try:
            defs = self._defs(decision)
            scope = self._requirements(decision, defs, run)
            used = {k: v for k, v in scope.items() if not isinstance(v, feel.FeelFunction)}
            node = NodeTrace("decision", decision.name, decision.id, inputs=used)
            run.trace.add(node)
            if decision.expression is None:
                node.messages.append("the decision has no expression, so it is null")
                value = None
            else:
                value = self._eval(decision.expression, scope, _Ctx(defs, run, node))
            value = self._coerce(value, decision.type_ref, defs, "result", node)
            node.result = value
        finally:
            run.active.discard(ref)
        run.memo[ref] = value
        run.outputs[decision.name] = value
        return value

    def _bind(
        self, scope: dict[str, Any], defs: m.Definitions, element: m.DrgElement, value: Any
    ) -> None:
        """Put a required element's value in scope: by name, or under its import's name."""
        if element.namespace == defs.namespace:
            scope[element.name] = value
            return
        prefix = defs.import_name(element.namespace) or element.namespace
        bucket = scope.get(prefix)
        if not isinstance(bucket, dict):
            bucket = {}
            scope[prefix] = bucket
        bucket[element.name] = value

    def _requirements(self, element: m.DrgElement, defs: m.Definitions, run: _Run) -> dict:
        needs = self._needs.get(element.ref)
        if needs is None:
            needs = self._needs[element.ref] = self._find_needs(element)
        inputs, decisions, knowledge = needs
        scope: dict[str, Any] = {}
        local = defs.namespace
        for data in inputs:
            if data.namespace == local:
                scope[data.name] = self._input(data, run)
            else:
                self._bind(scope, defs, data, self._input(data, run))
        for required in decisions:
            self._bind(scope, defs, required, self._decision(required, run))
        for function in knowledge:
            self._bind(scope, defs, function, self._function_of(function, run))
        return scope

    def _find_needs(
        self, element: m.DrgElement
    ) -> tuple[list[m.DrgElement], list[m.Decision], list[m.DrgElement]]:
        """The input data, decisions and knowledge an element requires (refs resolved)."""
        inputs: list[m.DrgElement] = []
        decisions: list[m.Decision] = []
        if isinstance(element, m.Decision):
            for ref in element.required_inputs:
                data = self._find(ref)
                assert data is not None
                inputs.append(data)
            for ref in element.required_decisions:
                required = self._find(ref)
                assert isinstance(required, m.Decision)
                decisions.append(required)
        knowledge: list[m.DrgElement] = []
        for ref in getattr(element, "required_knowledge", []):
            found = self._find(ref)
            assert found is not None
            knowledge.append(found)
        return inputs, decisions, knowledge

    def _input(self, data: m.DrgElement, run: _Run) -> Any:
        ref = data.ref
        memo = run.memo
        if ref in memo:
            return memo[ref]
        value = run.inputs.get(ref)
        dmn_type = self._input_types.get(ref)
        if dmn_type is None:
            dmn_type = self._input_types[ref] = self._type(data.type_ref, self._defs(data))
        if value is not None and dmn_type is not ANY and type(value) not in dmn_type.exact:
            ok, converted = dmn_type.convert(value)
            if not ok:
                node = NodeTrace("input", data.name, data.id, result=value)
                converted = self._coerce(value, data.type_ref, self._defs(data), "input", node)
                node.result = converted
                run.trace.add(node)
            value = converted
        memo[ref] = value
        return value

    # --- BKMs and decision services as FEEL functions -------------------------------------------

    def _function_of(self, element: m.DrgElement, run: _Run) -> feel.FeelFunction:
        if isinstance(element, m.BusinessKnowledgeModel):
            return self._bkm_function(element, run)
        if isinstance(element, m.DecisionService):
            ds = element
            return feel.FeelFunction(
                ds.name,
                self._service_params(ds),
                lambda args: self._call_service(ds, args, run),
            )
        raise DmnModelError(
            f"'{element.name}' is not a business knowledge model or decision service",
            element_id=element.id,
            line=element.line,
        )

    def _bkm_function(self, bkm: m.BusinessKnowledgeModel, run: _Run) -> feel.FeelFunction:
        logic = bkm.logic
        params = [p.name for p in logic.parameters] if logic else []
        defs = self._defs(bkm)

        def call(args: dict[str, Any]) -> Any:
            node = run.trace.add(NodeTrace("bkm", bkm.name, bkm.id))
            if logic is None or logic.body is None:
                node.messages.append("the business knowledge model has no logic, so it is null")
                return None
            scope = self._requirements(bkm, defs, run)
            scope.setdefault(bkm.name, function)  # recursion
            if not self._bind_params(logic.parameters, args, scope, defs, node):
                return None
            node.inputs = {p: scope[p] for p in params}
            value = self._eval(logic.body, scope, _Ctx(defs, run, node))
            value = self._coerce(value, logic.type_ref, defs, "result", node)
            node.result = value
            return value

        function = feel.FeelFunction(bkm.name, params, call)
        return function

    def _bind_params(
        self,
        params: list[m.InformationItem],
        args: Mapping[str, Any],
        scope: dict[str, Any],
        defs: m.Definitions,
        node: NodeTrace,
    ) -> bool:
        """Bind call arguments; an argument that does not conform makes the call null."""
        for param in params:
            value = args.get(param.name)
            ok, value = self._type(param.type_ref, defs).convert(value)
            if not ok:
                node.messages.append(
                    f"argument {param.name} = {render(args.get(param.name))} does not conform to "
                    f"type '{param.type_ref}', so the call is null"
                )
                return False
            scope[param.name] = value
        return True

    def _service_params(self, ds: m.DecisionService) -> list[str]:
        names = []
        for ref in [*ds.input_data, *ds.input_decisions]:
            element = self._find(ref)
            assert element is not None
            names.append(element.name)
        return names

    def _call_service(self, ds: m.DecisionService, args: Mapping[str, Any], run: _Run) -> Any:
        """A decision service invoked as a function: every parameter must be given, and conform."""
        missing = [p for p in self._service_params(ds) if p not in args]
        node = NodeTrace("decision service", ds.name, ds.id, inputs=dict(args))
        if missing:
            run.trace.add(node).messages.append(
                f"decision service '{ds.name}' called without {', '.join(missing)}, so it is null"
            )
            return None
        for ref in [*ds.input_data, *ds.input_decisions]:
            element = self._find(ref)
            assert element is not None
            ok, _ = self._type(element.type_ref, self._defs(element)).convert(args[element.name])
            if not ok:
                run.trace.add(node).messages.append(
                    f"decision service '{ds.name}': {render(args[element.name])} is not a "
                    f"{element.type_ref} for {element.name}, so it is null"
                )
                return None
        return self._invoke_service(ds, args, run)[0]

    def _invoke_service(
        self, ds: m.DecisionService, args: Mapping[str, Any], run: _Run
    ) -> tuple[Any, dict[str, Any]]:
        node = run.trace.add(NodeTrace("decision service", ds.name, ds.id, inputs=dict(args)))
        overrides: dict[m.Ref, Any] = {}
        inputs: dict[m.Ref, Any] = {}
        for ref in ds.input_decisions:
            element = self._find(ref)
            assert element is not None
            overrides[element.ref] = self._coerce(
                args.get(element.name),
                element.type_ref,
                self._defs(element),
                f"parameter {element.name}",
                node,
            )
        for ref in ds.input_data:
            element = self._find(ref)
            assert element is not None
            inputs[element.ref] = args.get(element.name)
        inner = run.child(inputs, overrides)
        self._enter(inner)
        try:
            outputs: dict[str, Any] = {}
            for ref in ds.output_decisions:
                decision = self._find(ref)
                assert isinstance(decision, m.Decision)
                outputs[decision.name] = self._decision(decision, inner)
        finally:
            inner.depth -= 1
        value: Any = outputs
        if len(outputs) == 1:
            value = next(iter(outputs.values()))
        value = self._coerce(value, ds.type_ref, self._defs(ds), "result", node)
        node.result = value
        return value, outputs

    # --- boxed expressions ---------------------------------------------------------------------

    def _enter(self, run: _Run) -> None:
        run.depth += 1
        if run.depth > MAX_DEPTH:
            raise DmnEvaluationError("evaluation nested too deeply (recursion without end?)")
        if time.monotonic() > run.deadline:
            raise DmnEvaluationError(f"evaluation took longer than {MAX_SECONDS} seconds")

    def _eval(self, expr: m.Expression | None, scope: dict[str, Any], ctx: _Ctx) -> Any:
        if expr is None:
            return None
        run = ctx.run
        self._enter(run)
        try:
            return self._dispatch(expr, scope, ctx)
        finally:
            run.depth -= 1

    def _dispatch(self, expr: m.Expression, scope: dict[str, Any], ctx: _Ctx) -> Any:
        if isinstance(expr, m.LiteralExpression):
            return self._literal(expr, scope, ctx)
        if isinstance(expr, m.DecisionTable):
            return self._table(expr, scope, ctx)
        if isinstance(expr, m.Context):
            return self._context(expr, scope, ctx)
        if isinstance(expr, m.ListExpression):
            return [self._eval(item, scope, ctx) for item in expr.items]
        if isinstance(expr, m.Relation):
            names = [c.name for c in expr.columns]
            rows = []
            for row in expr.rows:
                if len(row) != len(names):
                    self._error(ctx, expr, "a relation row has the wrong number of cells")
                    return None
                rows.append(
                    {n: self._eval(cell, scope, ctx) for n, cell in zip(names, row, strict=True)}
                )
            return rows
        if isinstance(expr, m.Invocation):
            return self._invocation(expr, scope, ctx)
        if isinstance(expr, m.FunctionDefinition):
            return self._function(expr, scope, ctx)
        if isinstance(expr, m.Conditional):
            condition = self._eval(expr.condition, scope, ctx)
            if condition is not None and not isinstance(condition, bool):
                self._error(ctx, expr, f"the condition is {render(condition)}, not a boolean")
                return None
            branch = expr.then if condition is True else expr.otherwise
            return self._eval(branch, scope, ctx)
        if isinstance(expr, m.Filter):
            return self._filter(expr, scope, ctx)
        if isinstance(expr, m.Iterator):
            return self._iterator(expr, scope, ctx)
        raise DmnUnsupportedError(
            f"{type(expr).__name__} is not supported", element_id=expr.id, line=expr.line
        )

    def _resolver(self, defs: m.Definitions) -> Any:
        found = self._resolvers.get(defs.namespace)
        if found is None:
            found = self._resolvers[defs.namespace] = self.types.resolver(defs)
        return found

    def _error(self, ctx: _Ctx, element: m.Element, message: str) -> None:
        ctx.node.messages.append(f"{message} ({element.where()})")

    def _names(self, scope: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(scope) | self.extra_names

    def _compile(self, expr: m.LiteralExpression, scope: Mapping[str, Any], ctx: _Ctx) -> Any:
        return self._parsed(expr, expr.text, frozenset(scope), feel.parse_expression, ctx)

    def _parsed(
        self,
        holder: Any,
        text: str,
        key: frozenset[str],
        parse: Callable[..., Any],
        ctx: _Ctx,
    ) -> Any:
        """FEEL text parsed for the names in scope, cached on its element (False: bad syntax)."""
        compiled = holder.compiled.get(key)
        if compiled is None:
            try:
                compiled = parse(text, names=key | self.extra_names)
            except feel.FeelSyntaxError as exc:
                self._error(ctx, holder, f"FEEL syntax error in '{text.strip()}': {exc}")
                compiled = False
            if len(holder.compiled) < 64:
                holder.compiled[key] = compiled
        return compiled

    def _feel(self, compiled: Any, scope: Mapping[str, Any], ctx: _Ctx, element: m.Element) -> Any:
        session = ctx.run.session
        warnings = session.messages
        start = len(warnings)
        previous = session.types
        session.types = self._resolver(ctx.defs)
        try:
            value = compiled.run(feel.Env(scope, None, session))
        except feel.FeelLimitExceeded as exc:
            raise DmnEvaluationError(f"{exc} ({element.where()})") from None
        finally:
            session.types = previous
        if len(warnings) > start:
            self._flush(ctx, element, warnings, start)
        return value

    def _flush(
        self, ctx: _Ctx, element: m.Element, warnings: list[str], start: int, most: int = 20
    ) -> None:
        """Move the session's warnings since `start` to the trace, naming the element."""
        for warning in warnings[start : start + most]:
            self._error(ctx, element, warning)
        del warnings[start:]

    def _literal(self, expr: m.LiteralExpression, scope: Mapping[str, Any], ctx: _Ctx) -> Any:
        if not expr.text.strip():
            return None
        compiled = self._compile(expr, scope, ctx)
        if compiled is False:
            return None
        value = self._feel(compiled, scope, ctx, expr)
        if expr.type_ref:
            value = self._coerce(value, expr.type_ref, ctx.defs, "expression", ctx.node)
        return value

    def _context(self, expr: m.Context, scope: dict[str, Any], ctx: _Ctx) -> Any:
        inner = dict(scope)
        result: dict[str, Any] = {}
        for entry in expr.entries:
            if entry.variable is None:
                return self._eval(entry.expression, inner, ctx)
            value = self._eval(entry.expression, inner, ctx)
            value = self._coerce(
                value, entry.variable.type_ref, ctx.defs, entry.variable.name, ctx.node
            )
            inner[entry.variable.name] = value
            result[entry.variable.name] = value
        return result

    def _invocation(self, expr: m.Invocation, scope: dict[str, Any], ctx: _Ctx) -> Any:
        function = self._eval(expr.function, scope, ctx)
        if not isinstance(function, feel.FeelFunction):
            self._error(ctx, expr, f"{render(function)} is not a function")
            return None
        args = {}
        for binding in expr.bindings:
            name = binding.parameter.name
            if name not in function.params:
                self._error(ctx, expr, f"{function.name} has no parameter '{name}'")
                return None
            args[name] = self._eval(binding.expression, scope, ctx)
        return function.call(args)

    def _function(self, expr: m.FunctionDefinition, scope: dict[str, Any], ctx: _Ctx) -> Any:
        if expr.kind != "FEEL":
            raise DmnUnsupportedError(
                f"{expr.kind} functions are not supported", element_id=expr.id, line=expr.line
            )
        params = [p.name for p in expr.parameters]

        def call(args: dict[str, Any]) -> Any:
            inner = dict(scope)
            if not self._bind_params(expr.parameters, args, inner, ctx.defs, ctx.node):
                return None
            value = self._eval(expr.body, inner, ctx)
            return self._coerce(value, expr.type_ref, ctx.defs, "function result", ctx.node)

        return feel.FeelFunction("anonymous", params, call)

    def _items(self, source: Any) -> list[Any] | None:
        if source is None:
            return None
        if isinstance(source, list):
            return source
        return [source]

    def _filter(self, expr: m.Filter, scope: dict[str, Any], ctx: _Ctx) -> Any:
        items = self._items(self._eval(expr.source, scope, ctx))
        if items is None:
            return None
        kept = []
        for item in items:
            inner = dict(scope)
            if isinstance(item, dict):
                inner.update(item)
            inner["item"] = item
            if self._eval(expr.match, inner, ctx) is True:
                kept.append(item)
        return kept

    def _iterator(self, expr: m.Iterator, scope: dict[str, Any], ctx: _Ctx) -> Any:
        source = self._eval(expr.source, scope, ctx)
        if isinstance(source, feel.Range) and _integral(source.start) and _integral(source.end):
            step = 1 if source.end >= source.start else -1
            source = [Decimal(i) for i in range(int(source.start), int(source.end) + step, step)]
        items = self._items(source)
        if items is None:
            return None
        results: list[Any] = []
        for item in items:
            inner = dict(scope)
            inner[expr.variable] = item
            if expr.kind == "for":
                inner["partial"] = list(results)
            results.append(self._eval(expr.body, inner, ctx))
        if expr.kind == "for":
            return results
        if expr.kind == "some":
            if any(r is True for r in results):
                return True
            return False if all(r is False for r in results) else None
        if any(r is False for r in results):
            return False
        return True if all(r is True for r in results) else None

    # --- decision tables -----------------------------------------------------------------------

    def _tests(
        self,
        text: m.UnaryTestsText,
        scope: Mapping[str, Any],
        ctx: _Ctx,
        key: frozenset[str] | None = None,
    ) -> Any:
        if key is None:
            key = frozenset(scope)
        return self._parsed(text, text.text, key, feel.parse_unary_tests, ctx)

    def _test(
        self,
        text: m.UnaryTestsText,
        value: Any,
        scope: Mapping[str, Any],
        ctx: _Ctx,
        key: frozenset[str] | None = None,
    ) -> bool | None:
        compiled = self._tests(text, scope, ctx, key)
        if compiled is False:
            return None
        if compiled.is_any:
            return True
        session = ctx.run.session
        warnings = session.messages
        start = len(warnings)
        previous = session.types
        session.types = self._resolver(ctx.defs)
        try:
            outcome = compiled.match(value, feel.Env(scope, None, session))
        except feel.FeelLimitExceeded as exc:
            raise DmnEvaluationError(f"{exc} ({text.where()})") from None
        finally:
            session.types = previous
        if len(warnings) > start:
            self._flush(ctx, text, warnings, start, 5)
        return outcome

    def _table_plan(
        self, table: m.DecisionTable, scope: Mapping[str, Any], ctx: _Ctx
    ) -> _TablePlan:
        """The table compiled for the names in scope (cached on the table)."""
        key = frozenset(scope)
        found = table.compiled.get(key)
        if found is None:
            found = self._build_plan(table, scope, key, ctx)
            if len(table.compiled) < 64:
                table.compiled[key] = found
        plan: _TablePlan = found
        return plan

    def _build_plan(
        self, table: m.DecisionTable, scope: Mapping[str, Any], key: frozenset[str], ctx: _Ctx
    ) -> _TablePlan:
        plan = _TablePlan()
        for clause in table.inputs:
            plan.labels.append(clause.label or clause.expression.text.strip())
            expression = (
                self._compile(clause.expression, scope, ctx)
                if clause.expression.text.strip()
                else None
            )
            allowed = clause.input_values
            tests = None
            if allowed is not None and allowed.text.strip() != "-":
                tests = self._tests(allowed, scope, ctx, key)
            plan.inputs.append((clause, expression, tests))
        # Input entries: one slot per distinct (column, text), tested at most once per evaluation.
        slots: dict[tuple[int, str], int] = {}
        dash_masks = [0] * len(table.inputs)
        slot_masks: list[int] = []
        simple = True
        for index, rule in enumerate(table.rules):
            bit = 1 << index
            plan.all_mask |= bit
            entries = []
            for column, entry in enumerate(rule.input_entries):
                compiled = self._tests(entry, scope, ctx, key)
                if compiled is not False and compiled.is_any:
                    dash_masks[column] |= bit
                    continue
                slot = slots.get((column, entry.text))
                if slot is None:
                    slot = slots[(column, entry.text)] = len(plan.matchers)
                    plan.slot_entries.append(entry)
                    plan.slot_columns.append(column)
                    slot_masks.append(0)
                    if compiled is False:  # a syntax error, already reported: null
                        plan.matchers.append(_null_test)
                    else:
                        plan.matchers.append(compiled.match)
                        simple = simple and compiled.simple
                slot_masks[slot] |= bit
                entries.append((column, slot))
            plan.rule_entries.append(tuple(entries))
            plan.rule_texts.append([e.text for e in rule.input_entries])
            annotation = "; ".join(a for a in rule.annotations if a) or rule.description
            plan.rule_annotations.append(annotation)
            plan.rule_outputs.append(self._static_output(table, rule, scope, ctx))
        plan.eager = simple
        plan.columns = [
            (
                dash_masks[column],
                tuple(
                    (slot, slot_masks[slot])
                    for slot in range(len(slot_masks))
                    if plan.slot_columns[slot] == column
                ),
            )
            for column in range(len(table.inputs))
        ]
        plan.slot_pairs = list(zip(plan.slot_columns, plan.matchers, strict=True))
        return plan

    def _static_output(
        self, table: m.DecisionTable, rule: m.Rule, scope: Mapping[str, Any], ctx: _Ctx
    ) -> Any:
        """A rule's output when every output entry is a literal that conforms, else `_UNSET`."""
        single = len(table.outputs) == 1
        row: dict[str, Any] = {}
        if len(rule.output_entries) != len(table.outputs):
            return _UNSET
        for index, (clause, entry) in enumerate(
            zip(table.outputs, rule.output_entries, strict=True), start=1
        ):
            if not entry.text.strip():
                return _UNSET
            compiled = self._compile(entry, scope, ctx)
            if compiled is False or compiled.constant is feel.NO_CONSTANT:
                return _UNSET
            value = compiled.constant
            for type_ref in (entry.type_ref, clause.type_ref):
                if type_ref:
                    ok, value = self._type(type_ref, ctx.defs).convert(value)
                    if not ok:
                        return _UNSET
            listed = clause.output_values
            if listed is not None and value is not None and listed.text.strip() != "-":
                tests = self._tests(listed, {}, ctx)
                if tests is False or not tests.simple or tests.match(value, None) is False:
                    return _UNSET
            row[clause.name or clause.label or f"output {index}"] = value
        return next(iter(row.values())) if single else row

    def _output_values(self, clause: m.OutputClause, ctx: _Ctx) -> list[Any] | None:
        """The output values in priority order: the clause's, else its type's allowed values."""
        listed = clause.output_values
        if listed is None:
            dmn_type = self._type(clause.type_ref, ctx.defs)
            if isinstance(dmn_type, ItemType) and dmn_type.item.allowed_values is not None:
                listed = dmn_type.item.allowed_values
        if listed is None or listed.text.strip() in ("", "-"):
            return None
        holder = m.LiteralExpression(text="[" + listed.text + "]", id=listed.id, line=listed.line)
        compiled = self._compile(holder, {}, ctx)
        if compiled is False:
            return None
        values = self._feel(compiled, {}, ctx, holder)
        return values if isinstance(values, list) else None

    def _table(self, table: m.DecisionTable, scope: dict[str, Any], ctx: _Ctx) -> Any:
        plan = self._table_plan(table, scope, ctx)
        name = ctx.node.name if table.output_label is None else table.output_label
        trace = TableTrace(table.id, name, table.hit_policy, table.aggregation)
        ctx.node.tables.append(trace)
        session = ctx.run.session
        previous = session.types
        session.types = self._resolver(ctx.defs)
        try:
            return self._table_run(table, plan, scope, ctx, trace)
        except RecursionError:
            raise DmnEvaluationError(f"evaluation nested too deeply ({table.where()})") from None
        finally:
            session.types = previous

    def _table_run(
        self,
        table: m.DecisionTable,
        plan: _TablePlan,
        scope: dict[str, Any],
        ctx: _Ctx,
        trace: TableTrace,
    ) -> Any:
        def fail(message: str) -> None:
            trace.error = message
            self._error(ctx, table, message)

        session = ctx.run.session
        env = feel.Env(scope, None, session)
        warnings = session.messages
        start = len(warnings)

        # 1. input expressions, checked against input values
        values: list[Any] = []
        for index, (clause, expression, allowed) in enumerate(plan.inputs, start=1):
            value = None
            variable = expression.variable if expression else None
            if variable in scope and type(scope[variable]) in _FEEL_SCALARS:
                value = scope[variable]  # the input expression is a name in scope
            elif expression is not None and expression is not False:
                try:
                    value = expression.run(env)
                except feel.FeelLimitExceeded as exc:
                    raise DmnEvaluationError(f"{exc} ({clause.expression.where()})") from None
                if len(warnings) > start:
                    self._flush(ctx, clause.expression, warnings, start)
            values.append(value)
            if allowed is not None:
                outcome = None
                if allowed is not False:
                    assert clause.input_values is not None
                    try:
                        outcome = allowed.match(value, env)
                    except feel.FeelLimitExceeded as exc:
                        raise DmnEvaluationError(f"{exc} ({clause.input_values.where()})") from None
                    if len(warnings) > start:
                        self._flush(ctx, clause.input_values, warnings, start, 5)
                if outcome is not True:
                    trace.inputs = list(zip(plan.labels, values, strict=False))
                    label = plan.labels[index - 1]
                    fail(
                        f"input {index} ({label}) is {render(value)}, which is not one of its "
                        f"allowed values {clause.input_values.text if clause.input_values else ''}"
                    )
                    return None
        trace.inputs = list(zip(plan.labels, values, strict=True))

        # 2. rules: every input entry must be satisfied. Each distinct entry of a column is
        # tested once; the trace records for each rule the first entry not satisfied.
        if plan.eager:  # constant tests only: test every distinct entry, combine bit masks
            results = [match(values[column], env) for column, match in plan.slot_pairs]
            mask = plan.all_mask
            for dashes, slots in plan.columns:
                allowed_rules = dashes
                for slot, rules in slots:
                    if results[slot] is True:
                        allowed_rules |= rules
                mask &= allowed_rules
            numbers = []
            while mask:
                lowest = mask & -mask
                numbers.append(lowest.bit_length())
                mask ^= lowest
        else:  # in rule order, each entry until one is not satisfied, as written
            results = [_UNSET] * len(plan.matchers)
            numbers = []
            matchers = plan.matchers
            number = column = 0
            try:
                for number, entries in enumerate(plan.rule_entries, start=1):
                    for column, slot in entries:
                        outcome = results[slot]
                        if outcome is _UNSET:
                            outcome = results[slot] = matchers[slot](values[column], env)
                        if outcome is not True:
                            break
                    else:
                        numbers.append(number)
            except feel.FeelLimitExceeded as exc:
                entry = table.rules[number - 1].input_entries[column]
                raise DmnEvaluationError(f"{exc} ({entry.where()})") from None
            if len(warnings) > start:
                self._flush(ctx, table, warnings, start)
        trace.matched = numbers
        trace.rule_source = lambda t: plan.rule_traces(table, results, t)

        # 3. outputs of the matched rules
        single = len(table.outputs) == 1
        names = plan.names.get(trace.name)
        if names is None:
            names = plan.names[trace.name] = [
                c.name or c.label or (trace.name if single else f"output {i}")
                for i, c in enumerate(table.outputs, start=1)
            ]
        outputs: list[Any] = []
        for number in numbers:
            static = plan.rule_outputs[number - 1]
            if static is not _UNSET:
                output = static if single else dict(static)
                trace.outputs[number] = output
                outputs.append(output)
                continue
            rule = table.rules[number - 1]
            row = {}
            for out_clause, out_entry, out_name in zip(
                table.outputs, rule.output_entries, names, strict=True
            ):
                value = self._eval(out_entry, scope, ctx)
                value = self._coerce(value, out_clause.type_ref, ctx.defs, out_name, ctx.node)
                out_values = out_clause.output_values
                if out_values is not None and value is not None:
                    listed = out_values.text.strip()
                    if listed != "-" and self._test(out_values, value, {}, ctx) is False:
                        fail(
                            f"rule {number} gives {out_name} = {render(value)}, which is not one "
                            f"of its output values {listed}"
                        )
                        return None
                row[out_name] = value
            output = row[names[0]] if single else row
            trace.outputs[number] = output
            outputs.append(output)

        # 4. the hit policy
        return self._hit_policy(table, numbers, outputs, names, scope, ctx, trace, fail)

    def _hit_policy(
        self,
        table: m.DecisionTable,
        numbers: list[int],
        outputs: list[Any],
        names: list[str],
        scope: dict[str, Any],
        ctx: _Ctx,
        trace: TableTrace,
        fail: Any,
    ) -> Any:
        single = len(names) == 1
        result: Any = None
        if not numbers:
            result = self._defaults(table, names, scope, ctx, trace)
            trace.result = result
            return result
        policy = table.hit_policy
        if policy == "UNIQUE":
            if len(numbers) > 1:
                fail(f"UNIQUE hit policy, but rules {_numbers(numbers)} all match")
                return None
            trace.selected = [numbers[0]]
            result = outputs[0]
        elif policy == "ANY":
            first = outputs[0]
            if any(feel.feel_equal(first, other) is not True for other in outputs[1:]):
                fail(f"ANY hit policy, but rules {_numbers(numbers)} match with different outputs")
                return None
            trace.selected = list(numbers)
            result = first
        elif policy == "FIRST":
            trace.selected = [numbers[0]]
            result = outputs[0]
        elif policy in ("PRIORITY", "OUTPUT ORDER"):
            priorities = [self._output_values(c, ctx) for c in table.outputs]
            keys = [
                _priority_key(row if not single else {names[0]: row}, names, priorities)
                for row in outputs
            ]
            order = sorted(range(len(outputs)), key=lambda i: keys[i])
            if policy == "PRIORITY":
                trace.selected = [numbers[order[0]]]
                result = outputs[order[0]]
            else:
                trace.selected = [numbers[i] for i in order]
                result = [outputs[i] for i in order]
        elif policy == "RULE ORDER":
            trace.selected = list(numbers)
            result = list(outputs)
        else:  # COLLECT
            trace.selected = list(numbers)
            result = self._aggregate(table.aggregation, outputs, fail)
        trace.result = result
        return result

    def _defaults(
        self,
        table: m.DecisionTable,
        names: list[str],
        scope: dict[str, Any],
        ctx: _Ctx,
        trace: TableTrace,
    ) -> Any:
        if not any(c.default_output is not None for c in table.outputs):
            if table.hit_policy == "COLLECT" and table.aggregation == "COUNT":
                return Decimal(0)
            if table.hit_policy in ("COLLECT", "RULE ORDER", "OUTPUT ORDER") and not (
                table.aggregation
            ):
                return []
            return None
        trace.used_default = True
        row = {}
        for clause, out_name in zip(table.outputs, names, strict=True):
            value = self._eval(clause.default_output, scope, ctx)
            row[out_name] = self._coerce(value, clause.type_ref, ctx.defs, out_name, ctx.node)
        return row[names[0]] if len(names) == 1 else row

    def _aggregate(self, aggregation: str | None, outputs: list[Any], fail: Any) -> Any:
        if aggregation is None:
            return list(outputs)
        if aggregation == "COUNT":
            return Decimal(len(outputs))
        values = [v for v in outputs if v is not None]
        if not values:
            return None
        if aggregation == "SUM":
            if not all(isinstance(v, Decimal) and not isinstance(v, bool) for v in values):
                fail("COLLECT SUM needs numbers")
                return None
            total = Decimal(0)
            for v in values:
                total = feel.DECIMAL_CONTEXT.add(total, v)
            return total
        best = values[0]
        for v in values[1:]:
            order = feel.feel_compare(v, best)
            if order is None:
                fail(f"COLLECT {aggregation}: {render(v)} and {render(best)} cannot be compared")
                return None
            if (order < 0) if aggregation == "MIN" else (order > 0):
                best = v
        return best


class _TablePlan:
    """A decision table compiled for one set of names in scope; shared by its evaluations."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        # per input clause: the clause, its compiled expression (None: empty, False: syntax
        # error), its compiled input values (None: any value)
        self.inputs: list[tuple[m.InputClause, Any, Any]] = []
        # per slot (a distinct input entry of a column): its test, column and entry
        self.matchers: list[Any] = []
        self.slot_columns: list[int] = []
        self.slot_entries: list[m.UnaryTestsText] = []
        self.slot_pairs: list[tuple[int, Any]] = []
        self.eager = True  # every slot is a constant test: run them all and combine masks
        # per column: the rules with "-" there, and (slot, the rules using it) for the others
        self.columns: list[tuple[int, tuple[tuple[int, int], ...]]] = []
        self.all_mask = 0
        # per rule: its (column, slot) entries other than "-", texts, annotation, static output
        self.rule_entries: list[tuple[tuple[int, int], ...]] = []
        self.rule_texts: list[list[str]] = []
        self.rule_annotations: list[str | None] = []
        self.rule_outputs: list[Any] = []
        # the output names, by the table's name (an unnamed single output takes it)
        self.names: dict[str, list[str]] = {}

    def rule_traces(
        self, table: m.DecisionTable, results: list[Any], trace: TableTrace
    ) -> list[RuleTrace]:
        """The rule traces of one evaluation, from the outcomes of its slots."""
        matched = set(trace.matched)
        width = len(self.labels)
        found = []
        for index, rule in enumerate(table.rules):
            number = index + 1
            stop, stop_outcome = width, None
            for column, slot in self.rule_entries[index]:
                outcome = results[slot]
                if outcome is not True:
                    stop, stop_outcome = column, None if outcome is _UNSET else outcome
                    break
            found.append(
                RuleTrace(
                    number,
                    rule.id,
                    number in matched,
                    self.labels,
                    self.rule_texts[index],
                    stop,
                    stop_outcome,
                    output=trace.outputs.get(number),
                    annotation=self.rule_annotations[index],
                )
            )
        return found


def _null_test(value: Any, scope: Any) -> None:
    return None


_FEEL_SCALARS = frozenset({type(None), bool, str, Decimal})


def _priority_key(
    row: dict[str, Any], names: list[str], priorities: list[list[Any] | None]
) -> tuple[int, ...]:
    key = []
    for out_name, allowed in zip(names, priorities, strict=True):
        if allowed is None:
            continue
        value = row.get(out_name)
        position = len(allowed)
        for index, candidate in enumerate(allowed):
            if feel.feel_equal(value, candidate) is True:
                position = index
                break
        key.append(position)
    return tuple(key)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _integral(value: Any) -> bool:
    return isinstance(value, Decimal) and value == value.to_integral_value()


def _collect(
    node: Any, names: set[str], texts: list[m.LiteralExpression | m.UnaryTestsText]
) -> None:
    """Walk a model: every name it declares and every FEEL text in it."""
    if isinstance(node, (m.LiteralExpression, m.UnaryTestsText)):
        texts.append(node)
        return
    if isinstance(node, m.Definitions):
        for element in [*node.item_definitions.values(), *node.elements.values()]:
            _collect(element, names, texts)
        return
    if isinstance(node, list):
        for item in node:
            _collect(item, names, texts)
        return
    if isinstance(node, (m.InformationItem, m.DrgElement, m.ItemDefinition)):
        names.add(node.name)
    if isinstance(node, m.Iterator):
        names.add(node.variable)
    if isinstance(node, m.Element):
        for value in vars(node).values():
            if isinstance(value, (m.Element, list)):
                _collect(value, names, texts)


def _component_names(item: m.ItemDefinition, names: set[str]) -> None:
    for component in item.components:
        names.add(component.name)
        _component_names(component, names)


def load_model(
    documents: Iterable[tuple[str | bytes, str | None]], *, limits: feel.Limits | None = None
) -> DmnModel:
    """Parse several DMN documents (data, source name); the first is the main model."""
    return DmnModel([parse_dmn(data, source=source) for data, source in documents], limits=limits)
