"""DMN types: built-in FEEL types, item definitions, and the conversions DMN applies.

`TypeSystem.resolve(type_ref, definitions)` gives a `DmnType`; `conforms(value)` tells whether a
value belongs to it, and `coerce` applies the DMN 1.3+ conversions (singleton list <-> element)
and otherwise turns a non-conforming value into null, as the specification says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from decisions import feel
from decisions.dmn import model as m

_BUILTIN_CHECKS: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: isinstance(v, Decimal),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "time": lambda v: isinstance(v, feel.FeelTime),
    "date and time": lambda v: isinstance(v, dt.datetime),
    "days and time duration": lambda v: isinstance(v, feel.DayTimeDuration),
    "years and months duration": lambda v: isinstance(v, feel.YearMonthDuration),
    "context": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "range": lambda v: isinstance(v, feel.Range),
    "function": lambda v: isinstance(v, feel.FeelFunction),
    "Any": lambda v: True,
}
_EXACT: dict[str, frozenset[type]] = {
    "number": frozenset({Decimal}),
    "string": frozenset({str}),
    "boolean": frozenset({bool}),
    "date": frozenset({dt.date}),
    "date and time": frozenset({dt.datetime}),
}
_ALIASES = {
    "dateTime": "date and time",
    "dayTimeDuration": "days and time duration",
    "yearMonthDuration": "years and months duration",
    "any": "Any",
    "decimal": "number",
    "integer": "number",
    "double": "number",
}


class DmnType:
    name: str = "Any"
    is_collection: bool = False
    # Python types whose values conform as they are (a fast path before `convert`)
    exact: frozenset[type] = frozenset()

    def conforms(self, value: Any) -> bool:
        return True

    def element_type(self) -> DmnType | None:
        return None

    def conforms_type(self, value: Any) -> bool:
        """Conformance to the type alone, ignoring allowed values (FEEL `instance of`)."""
        return self.conforms(value)

    def convert(self, value: Any) -> tuple[bool, Any]:
        """(True, value as this type) or (False, None) when it does not conform."""
        if value is None or self.conforms(value):
            return True, value
        element = self.element_type()
        if element is not None and not isinstance(value, list) and element.conforms(value):
            return True, [value]
        singleton = not self.is_collection and isinstance(value, list) and len(value) == 1
        if singleton and self.conforms(value[0]):
            return True, value[0]
        return False, None

    def coerce(self, value: Any, what: str, warnings: list[str]) -> Any:
        """The value as this type, or null with a warning when it does not conform."""
        ok, converted = self.convert(value)
        if ok:
            return converted
        warnings.append(
            f"{what}: {render(value)} ({feel.type_name(value)}) does not conform to type "
            f"'{self.name}', so it is null"
        )
        return None


ANY = DmnType()


@dataclass(kw_only=True)
class BuiltinType(DmnType):
    name: str
    check: Callable[[Any], bool] = field(repr=False)

    def __post_init__(self) -> None:
        self.exact = _EXACT.get(self.name, frozenset())

    def conforms(self, value: Any) -> bool:
        return value is None or self.check(value)


@dataclass(kw_only=True)
class ListType(DmnType):
    element: DmnType
    name: str = "list"
    is_collection: bool = True

    def conforms(self, value: Any) -> bool:
        return value is None or (
            isinstance(value, list) and all(self.element.conforms(x) for x in value)
        )

    def element_type(self) -> DmnType | None:
        return self.element


@dataclass(kw_only=True)
class ItemType(DmnType):
    """An item definition (possibly a collection, structure, constrained or function type)."""

    item: m.ItemDefinition
    base: DmnType | None  # from typeRef
    components: dict[str, DmnType]
    allowed: Any  # feel.UnaryTests | None
    name: str = ""
    is_collection: bool = False

    def _conforms_one(self, value: Any, *, constraints: bool = True) -> bool:
        if value is None:
            return True
        if self.item.function_item is not None:
            return isinstance(value, feel.FeelFunction)
        if self.components:
            if not isinstance(value, dict):
                return False
            # structural typing: every component present and conforming; extra entries are fine
            for key, component in self.components.items():
                item = value.get(key)
                ok = component.conforms(item) if constraints else component.conforms_type(item)
                if key not in value or not ok:
                    return False
        elif self.base is not None:
            base_ok = self.base.conforms(value) if constraints else self.base.conforms_type(value)
            if not base_ok:
                return False
        if constraints and self.allowed is not None:
            return self.allowed.test(value, {}) is True
        return True

    def conforms(self, value: Any) -> bool:
        if self.is_collection:
            return value is None or (
                isinstance(value, list) and all(self._conforms_one(x) for x in value)
            )
        return self._conforms_one(value)

    def conforms_type(self, value: Any) -> bool:
        if self.is_collection:
            return value is None or (
                isinstance(value, list)
                and all(self._conforms_one(x, constraints=False) for x in value)
            )
        return self._conforms_one(value, constraints=False)

    def element_type(self) -> DmnType | None:
        if not self.is_collection:
            return None
        item = ItemType(
            item=self.item,
            base=self.base,
            components=self.components,
            allowed=self.allowed,
            name=self.name,
        )
        return item


class UnknownType(Exception):
    pass


class TypeSystem:
    """Resolves typeRefs across a set of definitions (imports are looked up by their name)."""

    def __init__(self, definitions: dict[str, m.Definitions]) -> None:
        self.definitions = definitions
        self._cache: dict[tuple[str, str], DmnType] = {}

    def resolve(self, type_ref: str | None, defs: m.Definitions) -> DmnType:
        """Raises UnknownType for a name neither FEEL nor the model defines."""
        if not type_ref:
            return ANY
        key = (defs.namespace, type_ref)
        found = self._cache.get(key)
        if found is None:
            self._cache[key] = ANY  # guards against self-referencing definitions
            try:
                found = self._resolve(type_ref.strip(), defs)
            except UnknownType:
                del self._cache[key]
                raise
            self._cache[key] = found
        return found

    def _resolve(self, name: str, defs: m.Definitions) -> DmnType:
        if name in defs.item_definitions:
            return self._item(defs.item_definitions[name], defs)
        builtin = _ALIASES.get(name, name)
        if builtin in _BUILTIN_CHECKS:
            return BuiltinType(name=builtin, check=_BUILTIN_CHECKS[builtin])
        if name.startswith("list<") and name.endswith(">"):
            return ListType(element=self._resolve(name[5:-1].strip(), defs), name=name)
        for prefix in ("context<", "function<", "range<"):
            if name.startswith(prefix):
                base = prefix[:-1]
                return BuiltinType(name=name, check=_BUILTIN_CHECKS[base])
        # qualified by an import: "Import Name.tType"
        for item in defs.imports:
            if name.startswith(item.name + "."):
                other = self.definitions.get(item.namespace)
                if other is not None:
                    return self.resolve(name[len(item.name) + 1 :], other)
        raise UnknownType(name)

    def _item(self, item: m.ItemDefinition, defs: m.Definitions) -> ItemType:
        base = self.resolve(item.type_ref, defs) if item.type_ref else None
        components: dict[str, DmnType] = {}
        for component in item.components:
            components[component.name] = self._item(component, defs)
        allowed = None
        if item.allowed_values is not None and item.allowed_values.text.strip() not in ("", "-"):
            allowed = feel.parse_unary_tests(item.allowed_values.text)
        is_collection = item.is_collection
        return ItemType(
            item=item,
            base=base,
            components=components,
            allowed=allowed,
            name=item.name,
            is_collection=is_collection,
        )

    def resolver(self, defs: m.Definitions) -> Callable[[str], Callable[[Any], bool] | None]:
        """A FEEL `TypeResolver` so that `x instance of tMyType` sees item definitions."""

        def resolve(name: str) -> Callable[[Any], bool] | None:
            try:
                found = self.resolve(name, defs)
            except UnknownType:
                return None
            return found.conforms_type

        return resolve


def render(value: Any) -> str:
    """A value as FEEL would write it, for traces and messages."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value + '"'
    text = feel.to_string(value)
    return text if text is not None else repr(value)
