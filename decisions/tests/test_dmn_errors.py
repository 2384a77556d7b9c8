import pytest

from decisions.dmn import DmnModel, DmnModelError, DmnUnsupportedError, parse_dmn
from decisions.dmn.testing import DMN11, decision, definitions, input_data, literal, model, table


def test_malformed_xml_names_the_line():
    xml = definitions(decision("A", literal("1"))).replace("</decision>", "</decisio>")
    with pytest.raises(DmnModelError) as info:
        parse_dmn(xml, source="broken.dmn")
    assert "malformed XML" in info.value.detail
    assert info.value.line == 3
    assert "broken.dmn" in info.value.detail


def test_unknown_namespace_is_refused():
    xml = definitions("", ns="http://example.com/not-dmn")
    with pytest.raises(DmnModelError, match=r"unknown namespace 'http://example\.com/not-dmn'"):
        parse_dmn(xml)


def test_doctype_is_refused():
    xml = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + definitions("").split("?>", 1)[1]
    )
    with pytest.raises(DmnModelError, match="DOCTYPE"):
        parse_dmn(xml)


def test_unknown_hit_policy_names_the_element_and_line():
    xml = definitions(
        decision(
            "A",
            '<decisionTable id="dt1" hitPolicy="SOMETIMES"><output id="o"/></decisionTable>',
        )
    )
    with pytest.raises(DmnModelError) as info:
        parse_dmn(xml)
    assert info.value.element_id == "dt1"
    assert info.value.line == 3


def test_java_functions_are_unsupported_with_a_clear_error():
    bkm = """<businessKnowledgeModel id="k_J" name="J"><variable name="J"/>
      <encapsulatedLogic kind="Java" id="fn1"><literalExpression><text>1</text>
      </literalExpression></encapsulatedLogic></businessKnowledgeModel>"""
    with pytest.raises(DmnUnsupportedError) as info:
        model(bkm)
    assert info.value.element_id == "fn1"


def test_unknown_type_ref_names_the_element():
    with pytest.raises(DmnModelError, match="unknown type 'tNothing'"):
        model(decision("A", literal("1"), type_ref="tNothing"))


def test_feel_syntax_error_is_found_when_the_model_loads():
    # given a decision whose literal expression is not FEEL
    expression = '<literalExpression id="lit1"><text>1 +* 2</text></literalExpression>'
    # when the model loads, then the error names the expression's element and line
    with pytest.raises(DmnModelError) as info:
        model(decision("A", expression))
    assert "FEEL syntax error in '1 +* 2'" in info.value.detail
    assert info.value.element_id == "lit1"
    assert info.value.line == 3


def test_feel_syntax_error_in_an_input_entry_is_found_when_the_model_loads():
    dt = table(inputs=["x"], rules=[(["[1..]"], ['"a"'])])
    with pytest.raises(DmnModelError, match=r"FEEL syntax error in '\[1\.\.\]'"):
        model(input_data("x"), decision("A", dt, inputs=("x",)))


def test_undefined_name_gives_null_and_says_which_name():
    result = model(decision("A", literal("Salary * 12"))).evaluate("A", {})
    assert result.result is None
    assert any("Salary" in message for message in result.messages)


def test_dmn_11_models_with_qualified_type_refs_load():
    xml = definitions(
        '<decision id="d" name="D"><variable name="D" typeRef="feel:number"/>'
        + literal("1 + 1")
        + "</decision>",
        ns=DMN11,
    )
    assert DmnModel.from_xml(xml).evaluate("D", {}).result == 2


def test_unknown_decision_is_an_error_not_null():
    with pytest.raises(Exception, match="no Decision named 'B'"):
        model(decision("A", literal("1"))).evaluate("B", {})


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20211108/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    ],
)
def test_every_dmn_version_namespace_loads_and_evaluates(namespace):
    dt = table(inputs=["x"], rules=[(["&lt; 10"], ['"small"']), ([">= 10"], ['"big"'])])
    m = model(input_data("x"), decision("Size", dt, inputs=("x",)), ns=namespace)
    assert m.evaluate("Size", {"x": 12}).result == "big"
