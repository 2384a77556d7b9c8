def test_a_nul_character_in_the_query_string_is_a_clear_400(client):
    answer = client.get("/api/v1/exchange/messages", {"agency": "rev\x00enue"})
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    assert "NUL" in answer.json()["detail"]
