"""The UIS 2.0 app for Bitrix24: the app factory."""
from __future__ import annotations

import logging
import os
import sqlite3
import weakref

from flask import Flask, g, request, session
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bx_app import config as config_module
from bx_app import log_redaction
from bx_app.extensions import babel, csrf, db, migrate
from bx_app.models.encrypted import EncryptedText, configure_cipher, unreadable_secret
from bx_app.observability import install_client_observers


def _select_locale() -> str:
    lang = request.args.get("lang") or getattr(g, "portal_lang", None) or session.get("lang")
    if lang in ("ru", "en"):
        return lang
    if lang:  # Bitrix24 sends e.g. "ua", "de": English is closer than Russian for most of them
        return "ru" if lang in ("ua", "by", "kz") else "en"
    return request.accept_languages.best_match(["ru", "en"]) or "ru"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL lets readers go on while one writer commits; NORMAL sync is safe with WAL."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# Every engine of this process: a forked child (RQ forks a work horse per job, gunicorn its workers)
# must never use a pooled connection it inherited, whose socket the parent shares.
_engines: weakref.WeakSet = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def _render_migration_item(type_, obj, autogen_context):
    """Migrations store encrypted columns as plain Text (the encryption lives in the model only)."""
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"
    return False


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(config_module.ROOT / "templates"),
        static_folder=str(config_module.ROOT / "static"),
    )
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    # Session cookies (the UIS side) only over https when the app is served over https.
    if "SESSION_COOKIE_SECURE" not in (config or {}):
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_URL"].startswith("https://")
    log_redaction.install()
    config_module.check_secret_key(app.config)

    configure_cipher(app.config["TOKEN_ENCRYPTION_KEY"], app.config["SECRET_KEY"])
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Several gunicorn workers and RQ workers write at once: wait for the lock instead of failing.
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        # A restarted database server leaves dead connections in every process's pool: test before use.
        options.setdefault("pool_pre_ping", True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True,
                     render_item=_render_migration_item)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    app.jinja_env.globals["get_locale"] = get_locale

    # The package stays light for what imports a model or the sandbox: the web layer and the commands
    # (worker, scheduler, rotate-keys, and the jobs they start) are imported only to build an app.
    from bx_app.cli import register_commands  # import here: see above
    from bx_app.web import register_blueprints  # import here: see above

    register_blueprints(app)
    register_commands(app)

    install_client_observers()

    if not app.debug and not app.testing:
        level = getattr(logging, app.config.get("LOG_LEVEL", "INFO"), logging.INFO)
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with app.app_context():
        _engines.update(db.engines.values())
        if not app.testing:
            _check_stored_secrets()
            db.engine.dispose()  # the check's connection is not inherited by forked processes
    return app


def _check_stored_secrets() -> None:
    """Refuse to start when stored tokens do not decrypt with the configured keys (a changed SECRET_KEY)."""
    try:
        with db.engine.connect() as connection:
            unreadable = unreadable_secret(connection, db.metadata)
    except SQLAlchemyError as exc:  # no tables before the first upgrade, or the database is not up yet
        logging.getLogger(__name__).debug("stored secrets not checked: %s", exc.__class__.__name__)
        return
    if unreadable:
        raise config_module.ConfigurationError(
            f"stored tokens cannot be decrypted ({unreadable}) with SECRET_KEY / TOKEN_ENCRYPTION_KEY: "
            "was SECRET_KEY changed or an old key dropped from TOKEN_ENCRYPTION_KEY? Put the old key back "
            "(last in TOKEN_ENCRYPTION_KEY), run `flask --app wsgi rotate-keys`, then remove it")
