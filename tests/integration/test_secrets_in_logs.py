"""A real gunicorn (with the repository's gunicorn.conf.py, as production runs it) writes no secret to its logs.

Session tokens (`_s`, `X-App-Session`), hook and claim tokens (URL paths), OAuth tokens (`AUTH_ID`, the
`auth=` of app.info, which requests puts into its error text) and the Data API key are sent the way
users and portals send them; the web process's whole output is then grepped for each of them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import TEST_CONFIG, free_port, reference_fixture

ROOT = Path(__file__).resolve().parents[2]
HOOK_TOKEN = "hOoK-Secret-0123456789abcdefXYZ"
OAUTH_TOKEN = "85eb55480071c3e20058f18a00000001000006bf7e33bd76e28862f4892d679SECRET"
REFRESH_TOKEN = "75de7c480071c3e20058f18a00000001000006f5c1e2a5b1f6d0e8e1SECRETREFRESH"
APP_TOKEN = "154c104a6e8cb00653cd9f21e5SECRETAPP"
DATA_API_KEY = "uis-data-api-key-SECRET-9f8e7d6c5b4a"
SECRET_KEY = "gunicorn-log-test-secret"


def _prepare_database(db_url: str, redis_url: str) -> tuple[str, str]:
    from bx_app import create_app
    from bx_app.extensions import db
    from bx_app.installation import new_install_claim
    from bx_app.models import Credential, Portal
    from bx_app.models.account import PortalStatus
    from bx_app.web.app_session import issue_token
    from bx_app.web.install import claim_serializer

    app = create_app(dict(TEST_CONFIG, SECRET_KEY=SECRET_KEY, SQLALCHEMY_DATABASE_URI=db_url, REDIS_URL=redis_url))
    with app.app_context():
        db.create_all()
        portal = Portal(member_id="e31ab643c44f7a0ec824b59d1194d60d", domain="example.bitrix24.ru",
                        client_endpoint="https://example.bitrix24.ru/rest/", status=PortalStatus.INSTALLED,
                        access_token=OAUTH_TOKEN, refresh_token=REFRESH_TOKEN)
        credential = Credential(name="example", portal=portal, hook_token=HOOK_TOKEN)
        db.session.add_all([portal, credential])
        db.session.commit()
        session_token = issue_token(app, {"portal_id": portal.id, "admin": True, "lang": "ru", "user_id": 1,
                                          "iat": int(time.time())})
        with app.test_request_context():
            claim = new_install_claim(credential)
            claim_token = claim_serializer().dumps({"nonce": claim.nonce, "credential": credential.id})
        db.session.remove()
    return session_token, claim_token


def test_gunicorn_and_app_logs_never_contain_a_token(tmp_path, redis_url):
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    session_token, claim_token = _prepare_database(db_url, redis_url)
    port, closed = free_port(), free_port()
    env = dict(os.environ, SECRET_KEY=SECRET_KEY, DATABASE_URL=db_url, REDIS_URL=redis_url,
               PUBLIC_URL=f"http://127.0.0.1:{port}", B24_CLIENT_ID=TEST_CONFIG["B24_CLIENT_ID"],
               B24_CLIENT_SECRET=TEST_CONFIG["B24_CLIENT_SECRET"],
               # Nothing listens there: app.info fails with requests' error text, which names the URL.
               B24_OAUTH_URL=f"http://127.0.0.1:{closed}/oauth/token/",
               UIS_DATA_API_URL=f"http://127.0.0.1:{closed}/v2.0", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        web = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind",
                                f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        notification = reference_fixture("uis/notification_offline_message.json")
        answers = [
            requests.post(f"{base}/hooks/uis/{HOOK_TOKEN}", json=notification, timeout=10),
            requests.get(f"{base}/hooks/uis/{HOOK_TOKEN}?offline_message_id=1&visitor_message=x", timeout=10),
            requests.post(f"{base}/hooks/uis/{HOOK_TOKEN}", data=b"{not json", timeout=10,
                          headers={"Content-Type": "application/json"}),
            requests.get(f"{base}/app?_s={session_token}", timeout=10,
                         headers={"Referer": f"{base}/settings?_s={session_token}"}),
            requests.get(f"{base}/settings", headers={"X-App-Session": session_token}, timeout=10),
            requests.post(f"{base}/install", timeout=20,
                          params={"DOMAIN": "example.bitrix24.ru", "PROTOCOL": "1", "LANG": "ru"},
                          data={"AUTH_ID": OAUTH_TOKEN, "REFRESH_ID": REFRESH_TOKEN, "AUTH_EXPIRES": "3600",
                                "member_id": "e31ab643c44f7a0ec824b59d1194d60d", "APPLICATION_TOKEN": APP_TOKEN}),
            requests.post(f"{base}/install", timeout=20, data={
                "event": "ONAPPINSTALL", "auth[member_id]": "e31ab643c44f7a0ec824b59d1194d60d",
                "auth[domain]": "example.bitrix24.ru", "auth[access_token]": OAUTH_TOKEN,
                "auth[refresh_token]": REFRESH_TOKEN, "auth[application_token]": APP_TOKEN}),
            requests.post(f"{base}/b24/events", timeout=10, data={
                "event": "ONAPPUNINSTALL", "auth[member_id]": "e31ab643c44f7a0ec824b59d1194d60d",
                "auth[application_token]": APP_TOKEN}),
            requests.get(f"{base}/uis/claim/{claim_token}", timeout=10),
            requests.post(f"{base}/uis/", data={"token": DATA_API_KEY}, timeout=30),
            requests.get(f"{base}/b24/oauth/callback?code={OAUTH_TOKEN}&state=x", timeout=10),
        ]
        assert answers[0].status_code == 200 and answers[3].status_code == 200
        assert answers[5].status_code == 502  # app.info unreachable: logged, with requests' error text
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=20)
    output = log_path.read_text(errors="replace")
    assert "/hooks/uis/***" in output and '"GET /app HTTP/1.1" 200' in output  # the access log is there
    assert "app.info" in output or "install" in output  # and so are the app's warnings
    for secret in (HOOK_TOKEN, session_token, claim_token, OAUTH_TOKEN, REFRESH_TOKEN, APP_TOKEN, DATA_API_KEY):
        assert secret not in output, f"{secret[:12]}… found in the log:\n{output}"


def test_redaction_masks_each_kind_of_secret():
    from bx_app.log_redaction import redact

    samples = {
        f"POST /hooks/uis/{HOOK_TOKEN} 200": HOOK_TOKEN,
        f"GET /app?_s={SECRET_KEY}.abc&x=1": SECRET_KEY,
        f"HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: /rest/app.info?auth={OAUTH_TOKEN}": OAUTH_TOKEN,
        f"{{'access_token': '{OAUTH_TOKEN}', 'refresh_token': '{REFRESH_TOKEN}'}}": REFRESH_TOKEN,
        f'{{"auth": "{OAUTH_TOKEN}"}}': OAUTH_TOKEN,
        f"AUTH_ID={OAUTH_TOKEN}&member_id=1": OAUTH_TOKEN,
        f"auth[application_token]={APP_TOKEN}": APP_TOKEN,
        f"X-App-Session: {SECRET_KEY}": SECRET_KEY,
        f"/uis/claim/{SECRET_KEY}": SECRET_KEY,
        f"Authorization: Bearer {OAUTH_TOKEN}": OAUTH_TOKEN,
    }
    for text, secret in samples.items():
        assert secret not in redact(text), text
    assert redact("portal installed member_id=abc domain=x.bitrix24.ru") == (
        "portal installed member_id=abc domain=x.bitrix24.ru")
