from decimal import Decimal

from decisions.dmn.testing import decision, input_data, literal, model

TYPES = """
<itemDefinition name="tAge"><typeRef>number</typeRef>
  <allowedValues><text>[0..150]</text></allowedValues></itemDefinition>
<itemDefinition name="tPerson">
  <itemComponent name="name"><typeRef>string</typeRef></itemComponent>
  <itemComponent name="age"><typeRef>tAge</typeRef></itemComponent>
</itemDefinition>
<itemDefinition name="tNames" isCollection="true"><typeRef>string</typeRef></itemDefinition>
"""


def person_model():
    return model(
        TYPES,
        input_data("Person", "tPerson"),
        input_data("Names", "tNames"),
        decision("Age next year", literal("Person.age + 1"), inputs=("Person",), type_ref="tAge"),
        decision("Count", literal("count(Names)"), inputs=("Names",)),
        decision("Is person", literal("Person instance of tPerson"), inputs=("Person",)),
    )


def test_conforming_structured_input_is_used():
    result = person_model().evaluate("Age next year", {"Person": {"name": "Ada", "age": 36}})
    assert result.result == Decimal(37)


def test_input_of_the_wrong_type_becomes_null_with_a_message():
    # given an age given as a string
    result = person_model().evaluate("Age next year", {"Person": {"name": "Ada", "age": "36"}})
    # then the input is null for the model, and the trace says why
    assert result.result is None
    assert any("does not conform to type 'tPerson'" in m for m in result.messages)


def test_a_value_outside_allowed_values_does_not_conform():
    result = person_model().evaluate("Age next year", {"Person": {"name": "Old", "age": 150}})
    # 151 is outside tAge's allowed values, so the decision's result is null
    assert result.result is None
    assert any("'tAge'" in m for m in result.messages)


def test_a_single_value_is_wrapped_for_a_collection_type():
    assert person_model().evaluate("Count", {"Names": "solo"}).result == 1
    assert person_model().evaluate("Count", {"Names": ["a", "b"]}).result == 2
    assert person_model().evaluate("Count", {"Names": [1, 2]}).result is None


def test_instance_of_sees_item_definitions():
    result = person_model().evaluate("Is person", {"Person": {"name": "Ada", "age": 36}})
    assert result.result is True


def test_a_singleton_list_is_unwrapped_for_a_scalar_type():
    m = model(decision("One", literal("[5]"), type_ref="number"))
    assert m.evaluate("One", {}).result == 5
