"""Secrets: no start without SECRET_KEY outside tests/sandbox; token keys rotate; a wrong key stops every process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bx_app import config as config_module
from bx_app import create_app
from bx_app.config import ConfigurationError
from bx_app.extensions import db
from bx_app.models import Portal, UisAccount
from bx_app.models.account import PortalStatus
from tests.conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {k: v for k, v in TEST_CONFIG.items() if k != "TESTING"}


def _production_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "B24_ALLOW_INSECURE_PORTALS", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}", REDIS_URL="redis://127.0.0.1:1/0",
               B24_CLIENT_ID="app.x", B24_CLIENT_SECRET="s", **extra)
    return env


def _run(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


@pytest.mark.parametrize("command", [
    FLASK + ["db", "upgrade"],
    FLASK + ["worker", "--burst"],
    [GUNICORN, "wsgi:app", "--bind", "127.0.0.1:0", "--workers", "1"],
], ids=["db-upgrade", "worker", "gunicorn"])
def test_without_secret_key_every_process_refuses_to_start_and_names_it(tmp_path, command):
    finished = _run(command, _production_env(tmp_path))
    assert finished.returncode != 0
    assert "SECRET_KEY is not set" in finished.stderr + finished.stdout


def test_the_old_public_default_key_is_refused(tmp_path):
    finished = _run(FLASK + ["db", "upgrade"], _production_env(tmp_path, SECRET_KEY="dev-only-secret-change-me"))
    assert finished.returncode != 0
    assert "public development default" in finished.stderr


def test_with_a_secret_key_the_database_upgrades(tmp_path):
    finished = _run(FLASK + ["db", "upgrade"], _production_env(tmp_path, SECRET_KEY="x" * 48))
    assert finished.returncode == 0, finished.stderr


def test_sandbox_mode_without_secret_key_keeps_a_private_key_in_var(tmp_path, monkeypatch, redis_url):
    monkeypatch.setattr(config_module, "VAR_DIR", tmp_path / "var")
    settings = dict(PRODUCTION, SECRET_KEY="", B24_ALLOW_INSECURE_PORTALS=True, REDIS_URL=redis_url,
                    SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'a.db'}")
    first = create_app(dict(settings)).config["SECRET_KEY"]
    again = create_app(dict(settings)).config["SECRET_KEY"]
    assert len(first) >= 40 and first == again
    assert (tmp_path / "var" / "secret_key").read_text().strip() == first


def _store_tokens(app) -> None:
    with app.app_context():
        db.create_all()
        db.session.add(Portal(member_id="m1", domain="p1.bitrix24.ru", client_endpoint="https://p1.bitrix24.ru/rest/",
                              status=PortalStatus.INSTALLED, access_token="access-1", refresh_token="refresh-1"))
        db.session.add(UisAccount(app_id=601, name="A", data_api_token="data-api-1"))
        db.session.commit()
        db.session.remove()


def _stored_raw(app) -> list[str]:
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(text("SELECT access_token, refresh_token FROM portal")).all()
        rows += connection.execute(text("SELECT data_api_token FROM uis_account")).all()
    return [value for row in rows for value in row]


def test_rotate_keys_reencrypts_every_stored_secret_with_the_newest_key(tmp_path, redis_url, database_url):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = dict(PRODUCTION, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI=database_url)
    before = create_app(dict(settings, TOKEN_ENCRYPTION_KEY=old))
    _store_tokens(before)
    assert all(Fernet(old).decrypt(v.encode()) for v in _stored_raw(before))

    # The new key first, the old one still decrypting: the app starts and reads the tokens.
    both = create_app(dict(settings, TOKEN_ENCRYPTION_KEY=f"{new},{old}"))
    result = both.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "portal.access_token: 1 re-encrypted" in result.output
    assert "3 secrets now use the newest key" in result.output
    assert [Fernet(new).decrypt(v.encode()).decode() for v in _stored_raw(both)] == [
        "access-1", "refresh-1", "data-api-1"]

    only_new = create_app(dict(settings, TOKEN_ENCRYPTION_KEY=new))
    with only_new.app_context():
        portal = Portal.query.one()
        assert (portal.access_token, portal.refresh_token) == ("access-1", "refresh-1")
        assert UisAccount.query.one().data_api_token == "data-api-1"
        db.session.remove()
        db.engine.dispose()


def test_moving_from_the_derived_key_to_an_encryption_key_needs_only_rotate_keys(tmp_path, redis_url, database_url):
    settings = dict(PRODUCTION, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI=database_url, SECRET_KEY="s" * 40)
    _store_tokens(create_app(dict(settings)))
    key = Fernet.generate_key().decode()
    app = create_app(dict(settings, TOKEN_ENCRYPTION_KEY=key))  # the SECRET_KEY-derived key still decrypts
    assert app.test_cli_runner().invoke(args=["rotate-keys"]).exit_code == 0
    assert Fernet(key).decrypt(_stored_raw(app)[0].encode()) == b"access-1"
    with app.app_context():
        db.engine.dispose()


def test_a_process_with_a_key_that_cannot_read_the_stored_tokens_refuses_to_start(tmp_path, redis_url, database_url):
    settings = dict(PRODUCTION, REDIS_URL=redis_url, SQLALCHEMY_DATABASE_URI=database_url)
    _store_tokens(create_app(dict(settings, SECRET_KEY="the-key-of-yesterday-" * 3)))
    with pytest.raises(ConfigurationError, match="stored tokens cannot be decrypted .*portal.access_token"):
        create_app(dict(settings, SECRET_KEY="a-brand-new-key-today-" * 3))


def test_the_wrong_key_stops_the_command_line_with_a_clear_message(tmp_path):
    env = _production_env(tmp_path, SECRET_KEY="k" * 48)
    assert _run(FLASK + ["db", "upgrade"], env).returncode == 0
    script = ("from bx_app import create_app; from bx_app.extensions import db; from bx_app.models import Portal\n"
              "app = create_app()\n"
              "with app.app_context():\n"
              "    db.session.add(Portal(member_id='m', domain='d', client_endpoint='https://d/rest/', "
              "access_token='plaintext-token-42'))\n"
              "    db.session.commit()\n")
    assert _run([sys.executable, "-c", script], env).returncode == 0
    finished = _run(FLASK + ["worker", "--burst"], dict(env, SECRET_KEY="z" * 48))
    assert finished.returncode != 0
    assert "stored tokens cannot be decrypted" in finished.stderr
    assert "plaintext-token-42" not in finished.stderr
