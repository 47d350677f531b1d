"""HTTP blueprints of the app and the error pages they share."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from bx_app.extensions import db
from bx_app.web import (
    app_session,
    b24_oauth,
    health,
    hooks,
    iframe,
    install,
    journal,
    navigation,
    rate_limits,
    request_guard,
    security_headers,
    settings,
    time_display,
    uis_side,
)

log = logging.getLogger(__name__)

ERROR_TITLES = {
    400: _l("Неверный запрос"),
    401: _l("Нужен вход"),
    403: _l("Доступ запрещён"),
    404: _l("Не найдено"),
    405: _l("Метод не поддерживается"),
    409: _l("Конфликт"),
    413: _l("Слишком большой запрос"),
    415: _l("Неподдерживаемый формат"),
    429: _l("Слишком много запросов"),
    500: _l("Внутренняя ошибка"),
    502: _l("Внешний сервис недоступен"),
    503: _l("Сервис временно недоступен"),
}


def _wants_json() -> bool:
    return (
        request.path.startswith(("/hooks/", "/b24/events", "/healthz", "/api/"))
        or request.accept_mimetypes.best == "application/json"
    )


def register_blueprints(app: Flask) -> None:
    app_session.init_app(app)
    navigation.init_app(app)
    security_headers.init_app(app)
    time_display.init_app(app)
    request_guard.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(b24_oauth.bp)
    app.register_blueprint(install.bp)
    app.register_blueprint(iframe.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(uis_side.bp)
    app.register_blueprint(journal.bp)
    app.register_blueprint(settings.bp)
    rate_limits.init_app(app)

    @app.teardown_appcontext
    def release_session(exc):
        """Runs before Flask-SQLAlchemy's own teardown (registered earlier, run later): a connection that
        died with the database server (a PostgreSQL restart) is dropped, not rolled back, so an answer
        already given never becomes gunicorn's bare 500."""
        try:
            db.session.close()
        except SQLAlchemyError:
            db.session().invalidate()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        reason = getattr(exc, "description", None) or exc.name
        if _wants_json():
            return jsonify(error=exc.name, reason=str(reason)), exc.code
        title = ERROR_TITLES.get(exc.code)
        return render_template("error.html", code=exc.code, title=title or exc.name, reason=reason), exc.code

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        # Never a stack trace to the client; the log has it, with the portal when we know it.
        log.exception("unhandled error on %s %s member_id=%s", request.method, request.path,
                      request.values.get("member_id") or request.values.get("auth[member_id]"))
        try:
            db.session.rollback()
        except SQLAlchemyError:  # the connection died with the server: drop it without a rollback
            db.session().invalidate()
        if _wants_json():
            return jsonify(error="Internal Server Error", reason="unexpected error, logged"), 500
        return render_template("error.html", code=500, title=ERROR_TITLES[500],
                               reason=_l("Непредвиденная ошибка; она записана в журнал сервера.")), 500
