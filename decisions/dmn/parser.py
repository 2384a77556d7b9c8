"""DMN 1.1-1.5 XML -> `model.Definitions`.

Elements are matched by local name inside the DMN model namespace of the document; anything in
another namespace (diagram interchange, vendor extensions) is ignored. Errors name the element
id and its line and column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from decisions.dmn import model as m
from decisions.dmn.xmltree import XmlDocument, parse_xml

DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}

BOXED = {
    "literalExpression",
    "decisionTable",
    "context",
    "list",
    "relation",
    "invocation",
    "functionDefinition",
    "conditional",
    "filter",
    "for",
    "some",
    "every",
}


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def parse_dmn(data: str | bytes, *, source: str | None = None) -> m.Definitions:
    """Parse one DMN document. Raises `DmnModelError` naming the element and its position."""
    doc = parse_xml(data, source=source)
    return _Reader(doc).definitions()


class _Reader:
    def __init__(self, doc: XmlDocument) -> None:
        self.doc = doc
        ns, local = _local(doc.root.tag)
        if ns not in DMN_NAMESPACES:
            raise doc.error(
                f"unknown namespace '{ns or '(none)'}' for <{local}>: expected a DMN 1.1-1.5 "
                "model namespace",
                doc.root,
            )
        if local != "definitions":
            raise doc.error(f"the root element must be <definitions>, not <{local}>", doc.root)
        self.ns = ns
        self.version = DMN_NAMESPACES[ns]
        self.model_namespace = doc.root.get("namespace") or ""

    # --- helpers ---------------------------------------------------------------------------------

    def children(self, element: ET.Element, name: str | None = None) -> list[ET.Element]:
        found = []
        for child in element:
            ns, local = _local(child.tag)
            if ns == self.ns and (name is None or local == name):
                found.append(child)
        return found

    def child(self, element: ET.Element, name: str) -> ET.Element | None:
        for child in element:
            ns, local = _local(child.tag)
            if ns == self.ns and local == name:
                return child
        return None

    def text_of(self, element: ET.Element | None, name: str = "text") -> str | None:
        if element is None:
            return None
        text = self.child(element, name)
        if text is None:
            return None
        return text.text or ""

    def base(self, element: ET.Element) -> dict[str, object]:
        line, column = self.doc.position(element)
        description = self.text_of(element, "description")
        return {
            "id": element.get("id"),
            "line": line,
            "column": column,
            "label": element.get("label"),
            "description": description.strip() if description else None,
        }

    def type_ref(self, element: ET.Element, value: str | None) -> str | None:
        """typeRef values: DMN 1.1 uses QNames ("feel:string", "tns:tPerson"); drop the prefix."""
        if value is None:
            return None
        value = value.strip()
        prefix, sep, rest = value.partition(":")
        if sep and prefix in self.doc.prefixes.get(id(element), {}):
            return rest
        return value or None

    def ref(self, element: ET.Element) -> m.Ref:
        href = element.get("href")
        if not href:
            raise self.doc.error(f"<{_local(element.tag)[1]}> has no href", element)
        namespace, _, ident = href.partition("#")
        if not _:
            raise self.doc.error(f"href '{href}' is not of the form '[namespace]#id'", element)
        return m.Ref(namespace or self.model_namespace, ident)

    def information_item(self, element: ET.Element | None, fallback: str = "") -> m.InformationItem:
        if element is None:
            return m.InformationItem(name=fallback)
        return m.InformationItem(
            **self.base(element),  # type: ignore[arg-type]
            name=element.get("name") or fallback,
            type_ref=self.type_ref(element, element.get("typeRef")),
        )

    # --- definitions -----------------------------------------------------------------------------

    def definitions(self) -> m.Definitions:
        root = self.doc.root
        defs = m.Definitions(
            **self.base(root),  # type: ignore[arg-type]
            name=root.get("name") or "",
            namespace=self.model_namespace,
            dmn_version=self.version,
            source=self.doc.source,
        )
        readers: dict[str, Callable[[ET.Element], m.DrgElement]] = {
            "inputData": self.input_data,
            "decision": self.decision,
            "businessKnowledgeModel": self.bkm,
            "decisionService": self.decision_service,
        }
        for child in self.children(root):
            local = _local(child.tag)[1]
            if local == "import":
                defs.imports.append(
                    m.Import(
                        **self.base(child),  # type: ignore[arg-type]
                        namespace=child.get("namespace") or "",
                        name=child.get("name") or "",
                        import_type=child.get("importType"),
                        location=child.get("locationURI"),
                    )
                )
            elif local == "itemDefinition":
                item = self.item_definition(child)
                defs.item_definitions[item.name] = item
            elif local in readers:
                element = readers[local](child)
                element.namespace = self.model_namespace
                if not element.name:
                    raise self.doc.error(f"<{local}> has no name", child)
                key = element.id or element.name
                if key in defs.elements:
                    raise self.doc.error(f"duplicate id '{key}'", child)
                defs.elements[key] = element
        return defs

    def item_definition(self, element: ET.Element) -> m.ItemDefinition:
        allowed = self.child(element, "allowedValues")
        if allowed is None:
            allowed = self.child(element, "typeConstraint")
        function_item = None
        fi = self.child(element, "functionItem")
        if fi is not None:
            function_item = m.FunctionItem(
                **self.base(fi),  # type: ignore[arg-type]
                parameters=[self.information_item(p) for p in self.children(fi, "parameters")],
                output_type_ref=self.type_ref(fi, fi.get("outputTypeRef")),
            )
        type_ref_el = self.child(element, "typeRef")
        type_ref = None
        if type_ref_el is not None:
            type_ref = self.type_ref(type_ref_el, type_ref_el.text)
        elif element.get("typeRef"):
            type_ref = self.type_ref(element, element.get("typeRef"))
        return m.ItemDefinition(
            **self.base(element),  # type: ignore[arg-type]
            name=element.get("name") or "",
            type_ref=type_ref,
            allowed_values=self.unary_tests(allowed),
            components=[self.item_definition(c) for c in self.children(element, "itemComponent")],
            is_collection=element.get("isCollection", "false").strip() == "true",
            function_item=function_item,
        )

    def unary_tests(self, element: ET.Element | None) -> m.UnaryTestsText | None:
        if element is None:
            return None
        text = self.text_of(element)
        return m.UnaryTestsText(
            **self.base(element),  # type: ignore[arg-type]
            text=(text or "").strip() or "-",
        )

    def drg_base(self, element: ET.Element) -> dict[str, object]:
        name = element.get("name") or ""
        variable = self.child(element, "variable")
        return {
            **self.base(element),
            "name": name,
            "variable": self.information_item(variable, name),
        }

    def input_data(self, element: ET.Element) -> m.InputData:
        return m.InputData(**self.drg_base(element))  # type: ignore[arg-type]

    def knowledge_refs(self, element: ET.Element) -> list[m.Ref]:
        refs = []
        for requirement in self.children(element, "knowledgeRequirement"):
            for req in self.children(requirement, "requiredKnowledge"):
                refs.append(self.ref(req))
        return refs

    def decision(self, element: ET.Element) -> m.Decision:
        decisions, inputs = [], []
        for requirement in self.children(element, "informationRequirement"):
            for req in self.children(requirement, "requiredDecision"):
                decisions.append(self.ref(req))
            for req in self.children(requirement, "requiredInput"):
                inputs.append(self.ref(req))
        question = self.child(element, "question")
        return m.Decision(
            **self.drg_base(element),  # type: ignore[arg-type]
            required_decisions=decisions,
            required_inputs=inputs,
            required_knowledge=self.knowledge_refs(element),
            expression=self.expression_in(element),
            question=(question.text or "").strip() if question is not None else None,
        )

    def bkm(self, element: ET.Element) -> m.BusinessKnowledgeModel:
        logic_el = self.child(element, "encapsulatedLogic")
        logic = self.function_definition(logic_el) if logic_el is not None else None
        return m.BusinessKnowledgeModel(
            **self.drg_base(element),  # type: ignore[arg-type]
            required_knowledge=self.knowledge_refs(element),
            logic=logic,
        )

    def decision_service(self, element: ET.Element) -> m.DecisionService:
        def refs(name: str) -> list[m.Ref]:
            return [self.ref(c) for c in self.children(element, name)]

        return m.DecisionService(
            **self.drg_base(element),  # type: ignore[arg-type]
            output_decisions=refs("outputDecision"),
            encapsulated_decisions=refs("encapsulatedDecision"),
            input_decisions=refs("inputDecision"),
            input_data=refs("inputData"),
        )

    # --- boxed expressions -----------------------------------------------------------------------

    def expression_in(self, element: ET.Element | None) -> m.Expression | None:
        """The (single) boxed expression inside an element, or None."""
        if element is None:
            return None
        for child in self.children(element):
            if _local(child.tag)[1] in BOXED:
                return self.expression(child)
        return None

    def expression(self, element: ET.Element) -> m.Expression:
        local = _local(element.tag)[1]
        common = {**self.base(element), "type_ref": self.type_ref(element, element.get("typeRef"))}
        if local in ("literalExpression", "inputExpression", "outputEntry", "defaultOutputEntry"):
            text = self.text_of(element)
            if text is None and self.child(element, "importedValues") is not None:
                raise self.doc.error(
                    "literal expressions with importedValues are not supported",
                    element,
                    unsupported=True,
                )
            return m.LiteralExpression(
                **common,  # type: ignore[arg-type]
                text=text or "",
                expression_language=element.get("expressionLanguage"),
            )
        if local == "decisionTable":
            return self.decision_table(element, common)
        if local == "context":
            entries = []
            for entry in self.children(element, "contextEntry"):
                variable = self.child(entry, "variable")
                entries.append(
                    m.ContextEntry(
                        **self.base(entry),  # type: ignore[arg-type]
                        variable=self.information_item(variable) if variable is not None else None,
                        expression=self.expression_in(entry),
                    )
                )
            return m.Context(**common, entries=entries)  # type: ignore[arg-type]
        if local == "list":
            items: list[m.Expression | None] = [
                self.expression(c) for c in self.children(element) if _local(c.tag)[1] in BOXED
            ]
            return m.ListExpression(**common, items=items)  # type: ignore[arg-type]
        if local == "relation":
            columns = [self.information_item(c) for c in self.children(element, "column")]
            rows = []
            for row in self.children(element, "row"):
                rows.append(
                    [self.expression(c) for c in self.children(row) if _local(c.tag)[1] in BOXED]
                )
            return m.Relation(**common, columns=columns, rows=rows)  # type: ignore[arg-type]
        if local == "invocation":
            bindings = []
            for binding in self.children(element, "binding"):
                bindings.append(
                    m.Binding(
                        **self.base(binding),  # type: ignore[arg-type]
                        parameter=self.information_item(self.child(binding, "parameter")),
                        expression=self.expression_in(binding),
                    )
                )
            return m.Invocation(
                **common,  # type: ignore[arg-type]
                function=self.expression_in(element),
                bindings=bindings,
            )
        if local == "functionDefinition":
            return self.function_definition(element)
        if local == "conditional":
            return m.Conditional(
                **common,  # type: ignore[arg-type]
                condition=self.expression_in(self.child(element, "if")),
                then=self.expression_in(self.child(element, "then")),
                otherwise=self.expression_in(self.child(element, "else")),
            )
        if local == "filter":
            return m.Filter(
                **common,  # type: ignore[arg-type]
                source=self.expression_in(self.child(element, "in")),
                match=self.expression_in(self.child(element, "match")),
            )
        if local in ("for", "some", "every"):
            body_name = "return" if local == "for" else "satisfies"
            iterator_variable = element.get("iteratorVariable")
            if not iterator_variable:
                raise self.doc.error(f"<{local}> has no iteratorVariable", element)
            return m.Iterator(
                **common,  # type: ignore[arg-type]
                kind=local,
                variable=iterator_variable,
                source=self.expression_in(self.child(element, "in")),
                body=self.expression_in(self.child(element, body_name)),
            )
        raise self.doc.error(f"<{local}> is not a supported expression", element, unsupported=True)

    def function_definition(self, element: ET.Element) -> m.FunctionDefinition:
        kind = (element.get("kind") or "FEEL").strip().upper()
        if kind not in ("FEEL", "JAVA", "PMML"):
            raise self.doc.error(f"unknown function kind '{kind}'", element)
        return m.FunctionDefinition(
            **self.base(element),  # type: ignore[arg-type]
            type_ref=self.type_ref(element, element.get("typeRef")),
            kind={"JAVA": "Java", "PMML": "PMML"}.get(kind, "FEEL"),
            parameters=[
                self.information_item(p) for p in self.children(element, "formalParameter")
            ],
            body=self.expression_in(element),
        )

    def decision_table(self, element: ET.Element, common: dict[str, object]) -> m.DecisionTable:
        hit_policy = (element.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
        if hit_policy not in m.HIT_POLICIES:
            raise self.doc.error(f"unknown hit policy '{hit_policy}'", element)
        aggregation = element.get("aggregation")
        if aggregation is not None:
            aggregation = aggregation.strip().upper()
            if aggregation not in m.AGGREGATIONS:
                raise self.doc.error(f"unknown aggregation '{aggregation}'", element)
            if hit_policy != "COLLECT":
                raise self.doc.error("an aggregation needs the COLLECT hit policy", element)
        inputs = []
        for clause in self.children(element, "input"):
            expr_el = self.child(clause, "inputExpression")
            if expr_el is None:
                raise self.doc.error("<input> has no <inputExpression>", clause)
            expr = self.expression(expr_el)
            assert isinstance(expr, m.LiteralExpression)
            expr.type_ref = self.type_ref(expr_el, expr_el.get("typeRef"))
            inputs.append(
                m.InputClause(
                    **self.base(clause),  # type: ignore[arg-type]
                    expression=expr,
                    input_values=self.unary_tests(self.child(clause, "inputValues")),
                )
            )
        outputs = []
        for clause in self.children(element, "output"):
            default = self.child(clause, "defaultOutputEntry")
            default_expr = self.expression(default) if default is not None else None
            outputs.append(
                m.OutputClause(
                    **self.base(clause),  # type: ignore[arg-type]
                    name=clause.get("name"),
                    type_ref=self.type_ref(clause, clause.get("typeRef")),
                    output_values=self.unary_tests(self.child(clause, "outputValues")),
                    default_output=default_expr,  # type: ignore[arg-type]
                )
            )
        if not outputs:
            raise self.doc.error("a decision table needs at least one <output>", element)
        if aggregation and len(outputs) > 1:
            raise self.doc.error("an aggregation needs a single output", element)
        rules = []
        for rule_el in self.children(element, "rule"):
            entries = [
                self.unary_tests(e) or m.UnaryTestsText()
                for e in self.children(rule_el, "inputEntry")
            ]
            outs = []
            for out in self.children(rule_el, "outputEntry"):
                expr = self.expression(out)
                assert isinstance(expr, m.LiteralExpression)
                outs.append(expr)
            if len(entries) != len(inputs) or len(outs) != len(outputs):
                raise self.doc.error(
                    f"rule has {len(entries)} input and {len(outs)} output entries; the table "
                    f"has {len(inputs)} inputs and {len(outputs)} outputs",
                    rule_el,
                )
            annotations = [
                (self.text_of(a) or "").strip() for a in self.children(rule_el, "annotationEntry")
            ]
            rules.append(
                m.Rule(
                    **self.base(rule_el),  # type: ignore[arg-type]
                    input_entries=entries,
                    output_entries=outs,
                    annotations=annotations,
                )
            )
        return m.DecisionTable(
            **common,  # type: ignore[arg-type]
            hit_policy=hit_policy,
            aggregation=aggregation,
            inputs=inputs,
            outputs=outputs,
            rules=rules,
            output_label=element.get("outputLabel"),
        )
