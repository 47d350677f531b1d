"""The UIS side: sign-in with a Data API key, credentials, connect a portal (I1), finish a marketplace install (I2)."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import text

from bx_app.extensions import db
from bx_app.models import Credential, InstallClaim, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from tests.conftest import TEST_CONFIG, reference_fixture

DATA_API = TEST_CONFIG["UIS_DATA_API_URL"]
TOKEN_URL = TEST_CONFIG["B24_OAUTH_URL"]
KEY = "k3y-uis-data-api-0001"
PORTAL = "example.bitrix24.ru"
MEMBER_ID = "e31ab643c44f7a0ec824b59d1194d60d"


# --- helpers --------------------------------------------------------------------------------------------
def uis_error(name: str) -> dict:
    return reference_fixture(f"uis/{name}.json")


def account(app_id: int = 1103425, name: str = "ООО «Пример»") -> UisAccount:
    row = UisAccount(app_id=app_id, name=name, timezone="Europe/Moscow", data_api_token=KEY)
    db.session.add(row)
    db.session.commit()
    return row


def portal_with_credential(domain: str = PORTAL, member_id: str = MEMBER_ID, owner: UisAccount | None = None,
                           origin: str = "marketplace", status: str = PortalStatus.INSTALLED,
                           name: str | None = None) -> Credential:
    portal = Portal(member_id=member_id, domain=domain, client_endpoint=f"https://{domain}/rest/", status=status)
    credential = Credential(name=name or domain, portal=portal, origin=origin,
                            uis_account_id=owner.id if owner else None)
    db.session.add_all([portal, credential])
    db.session.commit()
    return credential


def signed_in(client, who: UisAccount):
    with client.session_transaction() as session:
        session["uis_account_id"] = who.id
    return client


def page(response) -> str:
    return response.get_data(as_text=True)


def field_errors(response) -> str:
    html = page(response)
    return " ".join(part.split("</div>", 1)[0] for part in html.split('class="b24-field-error"')[1:])


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- sign in --------------------------------------------------------------------------------------------
def test_sign_in_with_a_valid_key_creates_the_account_and_opens_the_credentials(client, rsps):
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    response = client.post("/uis/", data={"token": f"  {KEY} "})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/uis/credentials")
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["method"] == "get.account" and sent["params"]["access_token"] == KEY
    row = UisAccount.query.one()
    assert (row.app_id, row.name, row.timezone, row.data_api_token) == (1103425, "ООО «Пример»", "Europe/Moscow", KEY)
    stored = db.session.execute(text("select data_api_token from uis_account")).scalar_one()
    assert KEY not in stored  # encrypted at rest
    with client.session_transaction() as session:
        assert session["uis_account_id"] == row.id
    listing = client.get("/uis/credentials")
    assert listing.status_code == 200 and "ООО «Пример»" in page(listing)
    assert "Подключить интеграцию" in page(listing)


def test_sign_in_again_updates_the_same_account(client, rsps):
    existing = account(name="Старое имя")
    existing.status, existing.status_reason = "token_invalid", "expired"
    db.session.commit()
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    assert client.post("/uis/login", data={"token": "new-key"}).status_code == 302
    row = UisAccount.query.one()
    assert (row.id, row.name, row.data_api_token, row.status, row.status_reason) == (
        existing.id, "ООО «Пример»", "new-key", "ok", None)


@pytest.mark.parametrize(("fixture", "expected"), [
    ("error_access_token_invalid", "Ключ UIS Data API неверен"),
    ("error_access_token_expired", "Срок действия ключа UIS Data API истёк"),
    ("error_access_token_blocked", "Ключ UIS Data API заблокирован"),
    ("error_ip_not_whitelisted", "203.0.113.7"),
    ("error_method_component_disabled", "не подключён нужный компонент"),
])
def test_sign_in_refusals_are_shown_next_to_the_field(client, rsps, fixture, expected):
    rsps.post(DATA_API, json=uis_error(fixture))
    response = client.post("/uis/", data={"token": KEY})
    assert response.status_code == 400
    assert expected in field_errors(response)
    assert UisAccount.query.count() == 0
    with client.session_transaction() as session:
        assert "uis_account_id" not in session


def test_sign_in_ip_refusal_says_where_to_add_the_ip(client, rsps):
    rsps.post(DATA_API, json=uis_error("error_ip_not_whitelisted"))
    errors = field_errors(client.post("/uis/", data={"token": KEY}))
    assert "203.0.113.7" in errors and "Правила и настройки безопасности" in errors


def test_sign_in_when_the_data_api_is_unreachable(client, rsps):
    rsps.post(DATA_API, body=requests.ConnectionError("refused"))
    response = client.post("/uis/", data={"token": KEY})
    assert response.status_code == 400
    assert "UIS Data API недоступен" in field_errors(response)
    assert len(rsps.calls) == 1  # no retry loop while the user waits


def test_sign_in_with_an_empty_key(client):
    response = client.post("/uis/", data={"token": "  "})
    assert response.status_code == 400 and "Укажите ключ UIS Data API" in field_errors(response)


def test_language_switch_is_remembered(client):
    response = client.get("/uis/lang/en", query_string={"next": "/uis/credentials"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/uis/credentials")
    with client.session_transaction() as session:
        assert session["lang"] == "en"
    assert client.get("/uis/lang/en", query_string={"next": "https://evil.example/"}).headers[
        "Location"].endswith("/uis/")


def test_sign_out(client):
    who = account()
    signed_in(client, who)
    response = client.post("/uis/logout")
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "uis_account_id" not in session
    assert client.get("/uis/credentials").status_code == 302


def test_csrf_is_required_for_posts(tmp_path, redis_url):
    from bx_app import create_app

    app = create_app(dict(TEST_CONFIG, WTF_CSRF_ENABLED=True, REDIS_URL=redis_url,
                          SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'csrf.db'}"))
    with app.app_context():
        db.create_all()
        client = app.test_client()
        assert client.post("/uis/", data={"token": KEY}).status_code == 400
        assert client.post("/uis/logout").status_code == 400
        form = page(client.get("/uis/"))
        assert 'name="csrf_token"' in form
        db.session.remove()


# --- the credentials list and page ----------------------------------------------------------------------
def test_pages_need_a_sign_in(client):
    response = client.get("/uis/credentials")
    assert response.status_code == 302 and "/uis/?next=" in response.headers["Location"]
    assert client.get("/uis/connect").status_code == 302


def test_the_list_shows_only_the_accounts_own_credentials(client):
    mine, theirs = account(), account(app_id=2, name="Чужой")
    mine.status, mine.status_reason = "ip_denied", "UIS не пускает запросы с IP 203.0.113.7"
    own = portal_with_credential(owner=mine, name="Мой портал", status=PortalStatus.NEEDS_REAUTH)
    portal_with_credential(domain="other.bitrix24.ru", member_id="f" * 32, owner=theirs, name="Чужой портал")
    html = page(signed_in(client, mine).get("/uis/credentials"))
    assert "Мой портал" in html and PORTAL in html
    assert "Нужна повторная авторизация" in html
    assert "Маркетплейс Bitrix24" in html
    assert f"/uis/credentials/{own.id}" in html
    assert "Чужой портал" not in html and "other.bitrix24.ru" not in html
    assert 'data-status="ip_denied"' in html and "203.0.113.7" in html


def test_another_accounts_credential_is_404(client):
    mine, theirs = account(), account(app_id=2, name="Чужой")
    foreign = portal_with_credential(owner=theirs)
    signed_in(client, mine)
    assert client.get(f"/uis/credentials/{foreign.id}").status_code == 404
    assert client.post(f"/uis/credentials/{foreign.id}", data={"name": "x"}).status_code == 404
    assert client.get("/uis/credentials/999").status_code == 404
    assert Credential.query.one().name == PORTAL


def test_credential_page_shows_the_hook_url_and_templates_and_renames(client):
    mine = account()
    credential = portal_with_credential(owner=mine, origin="uis")
    signed_in(client, mine)
    html = page(client.get(f"/uis/credentials/{credential.id}"))
    assert f"https://uis-app.example.com/hooks/uis/{credential.hook_token}" in html
    for event in ("offline_message", "chat_finished", "lost_chat"):
        assert f'id="template-{event}-POST"' in html and f'id="template-{event}-GET"' in html
    assert "{{chat_id}}" in html and 'data-copy="hook-url"' in html
    assert client.post(f"/uis/credentials/{credential.id}", data={"name": "Новое имя"}).status_code == 302
    assert db.session.get(Credential, credential.id).name == "Новое имя"
    too_long = client.post(f"/uis/credentials/{credential.id}", data={"name": "x" * 256})
    assert too_long.status_code == 400 and "255" in field_errors(too_long)


def test_reconnect_a_portal_that_needs_reauthorisation(client):
    mine = account()
    credential = portal_with_credential(owner=mine, status=PortalStatus.NEEDS_REAUTH)
    signed_in(client, mine)
    assert 'id="reconnect"' in page(client.get(f"/uis/credentials/{credential.id}"))
    response = client.post(f"/uis/credentials/{credential.id}/reconnect")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"https://{PORTAL}/oauth/authorize/?")


# --- I1: connect a portal from the UIS side -------------------------------------------------------------
@pytest.mark.parametrize(("raw", "domain", "base_url"), [
    ("https://x.bitrix24.ru/", "x.bitrix24.ru", "https://x.bitrix24.ru"),
    ("x.bitrix24.ru", "x.bitrix24.ru", "https://x.bitrix24.ru"),
    ("X.Bitrix24.RU/crm/", "x.bitrix24.ru", "https://x.bitrix24.ru"),
    ("  https://X.bitrix24.ru/crm/deal/list/?a=1#top  ", "x.bitrix24.ru", "https://x.bitrix24.ru"),
    ("crm.example.com", "crm.example.com", "https://crm.example.com"),
    ("https://crm.example.com:443", "crm.example.com", "https://crm.example.com"),
    ("https://crm.example.com:8443/", "crm.example.com:8443", "https://crm.example.com:8443"),
    ("портал.рф", "xn--80awhdgm.xn--p1ai", "https://xn--80awhdgm.xn--p1ai"),
])
def test_I1_address_normalisation(app, raw, domain, base_url):
    from bx_app.uis_accounts import normalise_portal_address

    with app.test_request_context():
        address = normalise_portal_address(raw, allow_insecure=False)
    assert (address.domain, address.base_url) == (domain, base_url)


@pytest.mark.parametrize(("raw", "domain", "base_url"), [
    ("127.0.0.1:8081", "127.0.0.1:8081", "http://127.0.0.1:8081"),
    ("http://127.0.0.1:8081/", "127.0.0.1:8081", "http://127.0.0.1:8081"),
    ("localhost:8081", "localhost:8081", "http://localhost:8081"),
    ("http://portal.test:8081", "portal.test:8081", "http://portal.test:8081"),
])
def test_I1_address_normalisation_in_development(app, raw, domain, base_url):
    from bx_app.uis_accounts import normalise_portal_address

    with app.test_request_context():
        address = normalise_portal_address(raw, allow_insecure=True)
    assert (address.domain, address.base_url) == (domain, base_url)


@pytest.mark.parametrize(("raw", "message"), [
    ("", "Укажите адрес портала"),
    ("просто текст", "не похоже на адрес"),
    ("javascript:alert(1)", "не похоже на адрес"),
    ("ftp://x.bitrix24.ru", "не похоже на адрес"),
    ("https://", "не похоже на адрес"),
    ("https://user:pw@x.bitrix24.ru", "не похоже на адрес"),
    ("x..bitrix24.ru", "не похоже на адрес"),
    ("x_y.bitrix24.ru", "не похоже на адрес"),
    ("x.bitrix24.ru:99999", "не похоже на адрес"),
    ("portal", "не похоже на адрес"),
    ("http://x.bitrix24.ru", "HTTPS"),
    ("127.0.0.1:8081", "локальный"),
    ("https://192.168.1.10", "локальный"),
    ("localhost", "не похоже на адрес"),
])
def test_I1_address_garbage_is_refused(app, raw, message):
    from bx_app.uis_accounts import AddressRefused, normalise_portal_address

    with app.test_request_context(), pytest.raises(AddressRefused) as refused:
        normalise_portal_address(raw, allow_insecure=False)
    assert message in str(refused.value)


def test_I1_garbage_address_is_shown_next_to_the_field(client, rsps):
    signed_in(client, account())
    response = client.post("/uis/connect", data={"name": "Основной", "portal": "не адрес"})
    assert response.status_code == 400
    assert "не похоже на адрес портала" in field_errors(response)
    assert len(rsps.calls) == 0


def test_I1_name_is_required_and_short(client, rsps):
    signed_in(client, account())
    empty = client.post("/uis/connect", data={"name": " ", "portal": PORTAL})
    assert empty.status_code == 400 and "Укажите название" in field_errors(empty)
    long = client.post("/uis/connect", data={"name": "x" * 256, "portal": PORTAL})
    assert long.status_code == 400 and "255" in field_errors(long)


def test_I1_unreachable_portal(client, rsps):
    rsps.head(f"https://{PORTAL}/", body=requests.ConnectTimeout("timed out"))
    signed_in(client, account())
    response = client.post("/uis/connect", data={"name": "Основной", "portal": PORTAL})
    assert response.status_code == 400
    assert "недоступен" in field_errors(response)
    assert rsps.calls[0].request.req_kwargs["timeout"] == 5.0


def test_I1_portal_connected_to_another_account_is_refused(client, rsps):
    mine, theirs = account(), account(app_id=2, name="Чужой")
    portal_with_credential(owner=theirs)
    signed_in(client, mine)
    response = client.post("/uis/connect", data={"name": "Основной", "portal": f"https://{PORTAL}/crm/"})
    assert response.status_code == 400
    assert "уже подключён к другому аккаунту UIS" in field_errors(response)
    assert len(rsps.calls) == 0


def test_I1_portal_already_connected_to_this_account_links_to_it(client, rsps):
    mine = account()
    credential = portal_with_credential(owner=mine, name="Мой портал")
    signed_in(client, mine)
    response = client.post("/uis/connect", data={"name": "Ещё раз", "portal": PORTAL})
    assert response.status_code == 400
    assert "уже подключён к вашему аккаунту" in field_errors(response)
    assert f"/uis/credentials/{credential.id}" in page(response)


def start_connect(client, rsps, name="Основной портал", portal="Example.Bitrix24.RU/crm/"):
    rsps.head(f"https://{PORTAL}/", status=200)
    response = client.post("/uis/connect", data={"name": name, "portal": portal})
    assert response.status_code == 302, page(response)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"https://{PORTAL}/oauth/authorize/"
    query = parse_qs(location.query)
    assert query["client_id"] == [TEST_CONFIG["B24_CLIENT_ID"]]
    return query["state"][0]


def token_body(**overrides) -> dict:
    body = dict(reference_fixture("bitrix24/oauth_token_response.json")["authorization_code"]["response"]["body"])
    body["expires"] = int((utcnow() + timedelta(hours=1)).timestamp()) + 10 ** 7  # far enough ahead
    body.update(overrides)
    return body


def test_I1_success_creates_portal_and_credential(client, rsps):
    mine = account()
    signed_in(client, mine)
    state = start_connect(client, rsps)
    body = token_body()
    rsps.get(TOKEN_URL, json=body)
    response = client.get("/b24/oauth/callback", query_string={"code": "c0de", "state": state})
    assert response.status_code == 302, page(response)
    assert "/uis/credentials" in response.headers["Location"]
    portal = Portal.query.one()
    assert (portal.member_id, portal.domain, portal.status) == (MEMBER_ID, PORTAL, PortalStatus.INSTALLED)
    assert portal.client_endpoint == f"https://{PORTAL}/rest/"
    assert portal.server_endpoint == body["server_endpoint"]
    assert portal.access_token == body["access_token"] and portal.refresh_token == body["refresh_token"]
    assert portal.installed_at is not None
    credential = Credential.query.one()
    assert (credential.origin, credential.name, credential.uis_account_id, credential.portal_id) == (
        "uis", "Основной портал", mine.id, portal.id)
    listing = page(client.get(response.headers["Location"]))
    assert "Основной портал" in listing and "подключён" in listing
    code_query = parse_qs(urlsplit(rsps.calls[-1].request.url).query)
    assert code_query["grant_type"] == ["authorization_code"] and code_query["code"] == ["c0de"]


def test_I1_takes_over_an_unclaimed_marketplace_credential(client, rsps):
    mine = account()
    existing = portal_with_credential(owner=None, status=PortalStatus.INSTALLED)
    signed_in(client, mine)
    state = start_connect(client, rsps, name="Из UIS")
    rsps.get(TOKEN_URL, json=token_body())
    assert client.get("/b24/oauth/callback", query_string={"code": "c", "state": state}).status_code == 302
    credential = Credential.query.one()
    assert (credential.id, credential.uis_account_id, credential.name, credential.origin) == (
        existing.id, mine.id, "Из UIS", "marketplace")


def test_I1_refused_consent_goes_back_to_the_form_with_the_reason(client, rsps):
    signed_in(client, account())
    state = start_connect(client, rsps)
    response = client.get("/b24/oauth/callback", query_string={"error": "access_denied", "state": state})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "/uis/connect" in location
    form = client.get(location)
    html = page(form)
    assert "access_denied" in html and "Основной портал" in html and PORTAL in html
    assert Portal.query.count() == 0 and Credential.query.count() == 0


def test_I1_failed_code_exchange_goes_back_to_the_form(client, rsps):
    signed_in(client, account())
    state = start_connect(client, rsps)
    rsps.get(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Invalid code"})
    response = client.get("/b24/oauth/callback", query_string={"code": "bad", "state": state})
    assert response.status_code == 302 and "/uis/connect" in response.headers["Location"]
    assert "invalid_grant" in page(client.get(response.headers["Location"]))
    assert Portal.query.count() == 0


def test_I1_tokens_of_another_portal_are_refused(client, rsps):
    signed_in(client, account())
    state = start_connect(client, rsps)
    rsps.get(TOKEN_URL, json=token_body(client_endpoint="https://evil.bitrix24.ru/rest/"))
    response = client.get("/b24/oauth/callback", query_string={"code": "c", "state": state})
    assert response.status_code == 302
    assert "evil.bitrix24.ru" in page(client.get(response.headers["Location"]))
    assert Portal.query.count() == 0


def test_I1_callback_for_another_signed_in_account_is_refused(client, rsps):
    first, second = account(), account(app_id=2, name="Второй")
    signed_in(client, first)
    state = start_connect(client, rsps)
    signed_in(client, second)
    rsps.get(TOKEN_URL, json=token_body())
    response = client.get("/b24/oauth/callback", query_string={"code": "c", "state": state})
    assert response.status_code == 403
    assert Portal.query.count() == 0


def test_I1_portal_taken_by_another_account_meanwhile_is_refused(client, rsps):
    mine, theirs = account(), account(app_id=2, name="Чужой")
    signed_in(client, mine)
    state = start_connect(client, rsps)
    portal_with_credential(owner=theirs)  # attached while the user was on the consent page
    rsps.get(TOKEN_URL, json=token_body())
    response = client.get("/b24/oauth/callback", query_string={"code": "c", "state": state})
    assert response.status_code == 302
    assert "уже подключён к другому аккаунту UIS" in page(client.get(response.headers["Location"]))
    assert Credential.query.one().uis_account_id == theirs.id


def test_I1_development_portal_on_loopback(app, client, rsps):
    app.config["B24_ALLOW_INSECURE_PORTALS"] = True
    mine = account()
    signed_in(client, mine)
    rsps.head("http://127.0.0.1:8081/", status=302)
    response = client.post("/uis/connect", data={"name": "Песочница", "portal": "127.0.0.1:8081"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:8081/oauth/authorize/?")
    state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
    rsps.get(TOKEN_URL, json=token_body(client_endpoint="http://127.0.0.1:8081/rest/"))
    assert client.get("/b24/oauth/callback", query_string={"code": "c", "state": state}).status_code == 302
    assert Portal.query.one().domain == "127.0.0.1:8081"


# --- I2: finish a marketplace install on the UIS side ---------------------------------------------------
def claim_link(app, credential: Credential, nonce: str | None = None, credential_id: int | None = None) -> str:
    from bx_app.installation import new_install_claim
    from bx_app.web.install import claim_serializer

    if nonce is None:
        nonce = new_install_claim(credential).nonce
    with app.test_request_context():
        token = claim_serializer().dumps({"nonce": nonce, "credential": credential_id or credential.id})
    return f"/uis/claim/{token}"


def test_I2_claim_signs_in_first_then_attaches_after_confirmation(app, client, rsps):
    credential = portal_with_credential(owner=None, name=PORTAL)
    link = claim_link(app, credential)
    response = client.get(link)
    assert response.status_code == 302 and response.headers["Location"].endswith("/uis/")
    assert "claim-pending" in page(client.get("/uis/"))
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    signed = client.post("/uis/", data={"token": KEY})
    assert signed.status_code == 302 and signed.headers["Location"].endswith(link)
    confirm = client.get(link)
    assert confirm.status_code == 200
    assert f"«{PORTAL}» (портал {PORTAL}) к аккаунту UIS «ООО «Пример»»" in page(confirm)
    assert Credential.query.one().uis_account_id is None  # nothing happens on GET
    done = client.post(link)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/uis/credentials/{credential.id}")
    me = UisAccount.query.one()
    assert db.session.get(Credential, credential.id).uis_account_id == me.id
    claim = InstallClaim.query.one()
    assert claim.used_at is not None and claim.used_by_account_id == me.id
    assert PORTAL in page(client.get("/uis/credentials"))


def test_I2_claim_cannot_be_used_twice(app, client):
    first, second = account(), account(app_id=2, name="Второй")
    credential = portal_with_credential(owner=None)
    link = claim_link(app, credential)
    assert signed_in(client, first).post(link).status_code == 302
    again = signed_in(client, second).post(link)
    assert again.status_code == 409 and "уже была использована" in page(again)
    assert signed_in(client, second).get(link).status_code == 409
    assert db.session.get(Credential, credential.id).uis_account_id == first.id
    # the same account opening its used link is told it is done, not given an error page
    same = signed_in(client, first).get(link)
    assert same.status_code == 302 and f"/uis/credentials/{credential.id}" in same.headers["Location"]


def test_I2_used_claim_is_refused_even_before_sign_in(app, client):
    first = account()
    credential = portal_with_credential(owner=None)
    link = claim_link(app, credential)
    signed_in(client, first).post(link)
    client.post("/uis/logout")
    response = client.get(link)
    assert response.status_code == 409


def test_I2_forged_link_is_refused(app, client):
    signed_in(client, account())
    credential = portal_with_credential(owner=None)
    good = claim_link(app, credential)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    response = client.get(forged)
    assert response.status_code == 400 and "подделана" in page(response)
    assert client.post(forged).status_code == 400
    assert client.get("/uis/claim/not-a-token").status_code == 400
    assert db.session.get(Credential, credential.id).uis_account_id is None


def test_I2_expired_link_is_refused(app, client):
    signed_in(client, account())
    credential = portal_with_credential(owner=None)
    link = claim_link(app, credential)
    app.config["INSTALL_CLAIM_SECONDS"] = -1
    response = client.post(link)
    assert response.status_code == 400 and "Срок действия ссылки истёк" in page(response)
    assert db.session.get(Credential, credential.id).uis_account_id is None


def test_I2_nonce_is_bound_to_its_credential(app, client):
    signed_in(client, account())
    first = portal_with_credential(owner=None)
    second = portal_with_credential(domain="second.bitrix24.ru", member_id="b" * 32, owner=None)
    nonce = InstallClaim(nonce="n" * 32, credential_id=first.id)
    db.session.add(nonce)
    db.session.commit()
    response = client.post(claim_link(app, second, nonce="n" * 32))
    assert response.status_code == 400
    assert Credential.query.filter(Credential.uis_account_id.isnot(None)).count() == 0
    assert client.post(claim_link(app, first, nonce="unknown-nonce")).status_code == 400


def test_I2_credential_of_another_account_is_refused(app, client):
    mine, theirs = account(), account(app_id=2, name="Чужой")
    credential = portal_with_credential(owner=None)
    link = claim_link(app, credential)
    credential.uis_account_id = theirs.id  # attached meanwhile by another way (I1)
    db.session.commit()
    response = signed_in(client, mine).post(link)
    assert response.status_code == 409 and "другому аккаунту UIS" in page(response)
    assert db.session.get(Credential, credential.id).uis_account_id == theirs.id
    assert InstallClaim.query.one().used_at is None
