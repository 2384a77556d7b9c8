"""The committed OpenAPI document is the API's contract: changes must show in review."""

import json
from pathlib import Path

from django.conf import settings

from config.api import api

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.json"


def test_committed_openapi_document_is_current():
    current = json.loads(json.dumps(api.get_openapi_schema(), sort_keys=True, default=str))
    assert COMMITTED.exists(), "run `make openapi` and commit docs/openapi.json"
    committed = json.loads(COMMITTED.read_text())
    assert committed == current, "the API changed: run `make openapi` and commit the result"


def test_every_operation_has_an_operation_id_and_documents_problems(client):
    document = client.get("/api/v1/openapi.json").json()
    ids = [
        op["operationId"]
        for path in document["paths"].values()
        for method, op in path.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(ids) == len(set(ids))
    assert all("_" in i for i in ids)  # named, not generated from the URL
    for path in document["paths"].values():
        for op in path.values():
            problem = op["responses"]["403"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"] == "#/components/schemas/Problem"
