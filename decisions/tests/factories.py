"""A small "Benefit eligibility" DMN model and factories for the decisions app's tests."""

import factory

from decisions.models import DecisionModel
from identity.tests.factories import AgencyFactory

DMN15 = "https://www.omg.org/spec/DMN/20230324/MODEL/"


def benefit_xml(*, threshold: int = 18, payment: str = "120.50") -> str:
    """Eligible from `threshold` years of age with an income under 20000; then a payment."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{DMN15}" id="benefit" name="Benefit" namespace="urn:civicstack:benefit">
  <inputData id="in_age" name="Age"><variable name="Age" typeRef="number"/></inputData>
  <inputData id="in_income" name="Income"><variable name="Income" typeRef="number"/></inputData>
  <decision id="d_eligibility" name="Benefit eligibility">
    <variable name="Benefit eligibility" typeRef="string"/>
    <informationRequirement id="ir1"><requiredInput href="#in_age"/></informationRequirement>
    <informationRequirement id="ir2"><requiredInput href="#in_income"/></informationRequirement>
    <decisionTable id="dt_eligibility" hitPolicy="FIRST">
      <input id="c_age" label="Age"><inputExpression typeRef="number">
        <text>Age</text></inputExpression></input>
      <input id="c_income" label="Income"><inputExpression typeRef="number">
        <text>Income</text></inputExpression></input>
      <output id="o_eligibility" name="Benefit eligibility" typeRef="string"/>
      <rule id="r_young"><inputEntry><text>&lt; {threshold}</text></inputEntry>
        <inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"not eligible"</text></outputEntry></rule>
      <rule id="r_low_income"><inputEntry><text>&gt;= {threshold}</text></inputEntry>
        <inputEntry><text>&lt; 20000</text></inputEntry>
        <outputEntry><text>"eligible"</text></outputEntry></rule>
      <rule id="r_high_income"><inputEntry><text>-</text></inputEntry>
        <inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"not eligible"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="d_payment" name="Monthly payment">
    <variable name="Monthly payment" typeRef="number"/>
    <informationRequirement id="ir3">
      <requiredDecision href="#d_eligibility"/></informationRequirement>
    <literalExpression id="le_payment">
      <text>if Benefit eligibility = "eligible" then {payment} else 0</text>
    </literalExpression>
  </decision>
</definitions>
"""


class DecisionModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DecisionModel

    agency = factory.SubFactory(AgencyFactory)
    key = factory.Sequence(lambda n: f"model-{n}")
    name = "Benefit eligibility"
