"""Services (BPMN + DMN + form, versioned) and the cases that run them."""
