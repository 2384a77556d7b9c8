"""Error pages are the design system's, not Django's plain ones."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_missing_page_answers_404_with_a_page_that_says_what_to_do(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'class="govuk-template"' in response.text
    assert 'href="/"' in response.text
