"""A small, safe XML reader that remembers where each element starts.

ElementTree cannot report line numbers, and model errors must name the element's position, so
this builds an ElementTree from expat events and keeps each element's (line, column) aside.
DOCTYPE declarations and entity definitions are refused outright.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.parsers import expat

from decisions.dmn.errors import DmnModelError


@dataclass
class XmlDocument:
    root: ET.Element
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    # element -> {prefix: namespace} in scope, for QName attributes (DMN 1.1 typeRef="feel:x")
    prefixes: dict[int, dict[str, str]] = field(default_factory=dict)
    source: str | None = None

    def position(self, element: ET.Element) -> tuple[int | None, int | None]:
        line, column = self.positions.get(id(element), (None, None))
        return line, column

    def error(
        self, message: str, element: ET.Element, *, unsupported: bool = False
    ) -> DmnModelError:
        from decisions.dmn.errors import DmnUnsupportedError

        line, column = self.position(element)
        cls = DmnUnsupportedError if unsupported else DmnModelError
        return cls(
            message, element_id=element.get("id"), line=line, column=column, source=self.source
        )


def parse_xml(data: str | bytes, *, source: str | None = None) -> XmlDocument:
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    positions: dict[int, tuple[int, int]] = {}
    prefixes: dict[int, dict[str, str]] = {}
    scopes: list[dict[str, str]] = [{}]
    pending: dict[str, str] = {}
    keep: list[ET.Element] = []  # keeps ids stable while parsing

    def clark(name: str) -> str:
        return "{" + name if "}" in name else name

    def start_ns(prefix: str | None, uri: str) -> None:
        pending[prefix or ""] = uri

    def start(name: str, attrs: dict[str, str]) -> None:
        element = builder.start(clark(name), {clark(k): v for k, v in attrs.items()})
        keep.append(element)
        positions[id(element)] = (parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        scope = {**scopes[-1], **pending} if pending else scopes[-1]
        pending.clear()
        scopes.append(scope)
        prefixes[id(element)] = scope

    def end(name: str) -> None:
        builder.end(clark(name))
        scopes.pop()

    def refuse_doctype(*_args: object) -> None:
        raise DmnModelError(
            "DOCTYPE declarations are not allowed in DMN files",
            line=parser.CurrentLineNumber,
            column=parser.CurrentColumnNumber + 1,
            source=source,
        )

    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.ExternalEntityRefHandler = refuse_doctype  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        if isinstance(data, str):
            parser.Parse(data.encode("utf-8"), True)
        else:
            parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DmnModelError(
            f"malformed XML: {expat.ErrorString(exc.code)}",
            line=exc.lineno,
            column=exc.offset + 1,
            source=source,
        ) from None
    root = builder.close()
    return XmlDocument(root=root, positions=positions, prefixes=prefixes, source=source)
