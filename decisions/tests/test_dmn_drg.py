from decimal import Decimal

import pytest

from decisions.dmn import DmnEvaluationError, DmnModel, DmnModelError, parse_dmn
from decisions.dmn.testing import decision, definitions, input_data, literal, model

BKM = """
<businessKnowledgeModel id="k_Discount" name="Discount">
  <variable name="Discount"/>
  <encapsulatedLogic>
    <formalParameter name="price" typeRef="number"/>
    <formalParameter name="rate" typeRef="number"/>
    <literalExpression><text>price * (1 - rate)</text></literalExpression>
  </encapsulatedLogic>
</businessKnowledgeModel>
"""


def test_required_decisions_are_evaluated_first_and_once():
    # given Total requiring Base twice over (directly and through Doubled)
    m = model(
        input_data("Price"),
        decision("Base", literal("Price + 1"), inputs=("Price",)),
        decision("Doubled", literal("Base * 2"), decisions=("Base",)),
        decision("Total", literal("Base + Doubled"), decisions=("Base", "Doubled")),
    )
    # when Total is evaluated
    result = m.evaluate("Total", {"Price": 10})
    # then Base is evaluated before its dependants, exactly once
    assert result.result == Decimal(33)
    order = [n.name for n in result.trace.nodes if n.kind == "decision"]
    assert order == ["Base", "Doubled", "Total"]
    assert result.outputs == {"Base": 11, "Doubled": 22, "Total": 33}


def test_a_decision_sees_only_what_it_requires():
    # given a decision that uses an input data it does not declare
    m = model(
        input_data("Price"),
        decision("Sneaky", literal("Price + 1")),
    )
    result = m.evaluate("Sneaky", {"Price": 10})
    # then the name is undefined there: null, with a message in the trace
    assert result.result is None
    assert any("Price" in msg for msg in result.messages)


def test_a_requirement_cycle_is_reported_not_looped():
    m = model(
        decision("A", literal("B"), decisions=("B",)),
        decision("B", literal("A"), decisions=("A",)),
    )
    with pytest.raises(DmnEvaluationError, match="cycle"):
        m.evaluate("A", {})


def test_bkm_invoked_from_feel_and_from_a_boxed_invocation():
    invocation = """
    <invocation>
      <literalExpression><text>Discount</text></literalExpression>
      <binding><parameter name="price"/><literalExpression><text>Price</text></literalExpression>
      </binding>
      <binding><parameter name="rate"/><literalExpression><text>0.1</text></literalExpression>
      </binding>
    </invocation>"""
    m = model(
        input_data("Price"),
        BKM,
        decision(
            "Via FEEL", literal("Discount(Price, 0.2)"), inputs=("Price",), knowledge=("Discount",)
        ),
        decision("Via boxed", invocation, inputs=("Price",), knowledge=("Discount",)),
    )
    assert m.evaluate("Via FEEL", {"Price": 100}).result == Decimal(80)
    assert m.evaluate("Via boxed", {"Price": 100}).result == Decimal(90)


def test_bkm_argument_of_the_wrong_type_makes_the_call_null():
    m = model(BKM, decision("D", literal('Discount("a lot", 0.2)'), knowledge=("Discount",)))
    result = m.evaluate("D", {})
    assert result.result is None
    assert any("does not conform" in msg for msg in result.messages)


SERVICE = """
<decisionService id="k_Quote" name="Quote">
  <variable name="Quote"/>
  <outputDecision href="#d_Price_with_tax"/>
  <encapsulatedDecision href="#d_Tax"/>
  <inputData href="#i_Net"/>
</decisionService>
"""


def service_model() -> DmnModel:
    return model(
        input_data("Net"),
        decision("Tax", literal("Net * 0.2"), inputs=("Net",)),
        decision("Price with tax", literal("Net + Tax"), inputs=("Net",), decisions=("Tax",)),
        SERVICE,
        decision("Two quotes", literal("[Quote(10), Quote(Net: 20)]"), knowledge=("Quote",)),
    )


def test_decision_service_invoked_directly():
    result = service_model().evaluate_service("Quote", {"Net": 100})
    assert result.result == Decimal(120)
    assert result.outputs == {"Price with tax": Decimal(120)}


def test_decision_service_called_as_a_function_runs_its_own_graph_each_time():
    result = service_model().evaluate("Two quotes", {"Net": 999})
    assert result.result == [Decimal(12), Decimal(24)]


def test_decision_service_called_with_too_few_arguments_is_null():
    m = model(
        input_data("Net"),
        decision("Tax", literal("Net * 0.2"), inputs=("Net",)),
        decision("Price with tax", literal("Net + Tax"), inputs=("Net",), decisions=("Tax",)),
        SERVICE,
        decision("Bad", literal("Quote()"), knowledge=("Quote",)),
    )
    assert m.evaluate("Bad", {}).result is None


def test_context_relation_list_conditional_and_iterators():
    boxed = """
    <context>
      <contextEntry><variable name="rows"/>
        <relation>
          <column name="n"/><column name="sq"/>
          <row><literalExpression><text>1</text></literalExpression>
               <literalExpression><text>1</text></literalExpression></row>
          <row><literalExpression><text>3</text></literalExpression>
               <literalExpression><text>9</text></literalExpression></row>
        </relation>
      </contextEntry>
      <contextEntry><variable name="big"/>
        <filter><in><literalExpression><text>rows</text></literalExpression></in>
          <match><literalExpression><text>item.sq &gt; 2</text></literalExpression></match>
        </filter>
      </contextEntry>
      <contextEntry><variable name="doubled"/>
        <for iteratorVariable="x">
          <in><literalExpression><text>[1, 2]</text></literalExpression></in>
          <return><literalExpression><text>x * 2</text></literalExpression></return></for>
      </contextEntry>
      <contextEntry><variable name="all positive"/>
        <every iteratorVariable="x"><in><literalExpression><text>doubled</text></literalExpression>
          </in><satisfies><literalExpression><text>x &gt; 0</text></literalExpression></satisfies>
        </every>
      </contextEntry>
      <contextEntry><variable name="pair"/>
        <list><literalExpression><text>"a"</text></literalExpression>
              <literalExpression><text>"b"</text></literalExpression></list>
      </contextEntry>
      <contextEntry>
        <conditional>
          <if><literalExpression><text>all positive</text></literalExpression></if>
          <then><literalExpression><text>{n: big[1].n, d: doubled, p: pair}</text>
            </literalExpression></then>
          <else><literalExpression><text>null</text></literalExpression></else>
        </conditional>
      </contextEntry>
    </context>"""
    result = model(decision("Boxed", boxed)).evaluate("Boxed", {})
    assert result.result == {"n": Decimal(3), "d": [Decimal(2), Decimal(4)], "p": ["a", "b"]}


def test_imported_model_decisions_are_reached_through_the_import_name():
    base = parse_dmn(
        definitions(
            input_data("Name", "string")
            + decision("Greeting", literal('"Hello " + Name'), inputs=("Name",)),
            namespace="urn:base",
        )
    )
    main_xml = definitions(
        '<import namespace="urn:base" name="Base" '
        'importType="https://www.omg.org/spec/DMN/20230324/MODEL/"/>'
        '<decision id="d_Shout" name="Shout"><variable name="Shout"/>'
        '<informationRequirement><requiredDecision href="urn:base#d_Greeting"/>'
        "</informationRequirement>" + literal("upper case(Base.Greeting)") + "</decision>",
        namespace="urn:main",
    )
    m = DmnModel([parse_dmn(main_xml), base])
    assert m.evaluate("Shout", {"{urn:base}Name": "Ada"}).result == "HELLO ADA"


def test_reference_to_a_missing_element_names_the_referrer():
    with pytest.raises(DmnModelError) as info:
        model(decision("Lost", literal("1"), decisions=("Nowhere",)))
    assert info.value.element_id == "d_Lost"
    assert "d_Nowhere" in info.value.detail


def test_endless_recursion_in_a_bkm_stops_with_an_error():
    # given a business knowledge model that calls itself without end
    loop = """
    <businessKnowledgeModel id="k_Loop" name="Loop"><variable name="Loop"/>
      <knowledgeRequirement><requiredKnowledge href="#k_Loop"/></knowledgeRequirement>
      <encapsulatedLogic><formalParameter name="n" typeRef="number"/>
        <literalExpression><text>Loop(n + 1)</text></literalExpression>
      </encapsulatedLogic>
    </businessKnowledgeModel>"""
    m = model(loop, decision("D", literal("Loop(0)"), knowledge=("Loop",)))
    # when it is evaluated, then evaluation stops with a clear error instead of hanging
    with pytest.raises(DmnEvaluationError, match="nested too deeply"):
        m.evaluate("D", {})
