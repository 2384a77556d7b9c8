import pytest


@pytest.mark.django_db
def test_sign_in_page_speaks_spanish_when_asked(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es")
    page = response.content.decode()
    assert 'lang="es"' in page
    assert "Iniciar sesión" in page
    assert "Contraseña" in page


@pytest.mark.django_db
def test_language_switch_remembers_the_choice(client):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "Nombre de usuario" in client.get("/accounts/login/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert "Username" in client.get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_form_errors_are_translated(client):
    response = client.post(
        "/accounts/login/", {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="es"
    )
    assert "El nombre de usuario o la contraseña no son correctos." in response.content.decode()
