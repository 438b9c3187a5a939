"""Pages every citizen sees share the layout, the language choice and the security headers."""


def test_unknown_page_is_a_readable_404_with_security_headers(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_vietnamese_is_the_default_language(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert '<html lang="vi">' in response.get_data(as_text=True)


def test_accept_language_english_is_honoured(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html",
                                                    "Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_ui_locales_parameter_wins_over_accept_language(client):
    response = client.get("/no-such-page?ui_locales=en-US%20vi",
                          headers={"Accept": "text/html", "Accept-Language": "vi"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_language_switcher_remembers_the_choice_and_refuses_open_redirects(client):
    response = client.get("/lang/en?next=//evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert '<html lang="en">' in page.get_data(as_text=True)
