"""Requests refused before any view reads them: NUL characters in the path, the query or a form body,
JSON bodies where only forms are taken, and ids in URLs beyond what the database's integer columns
hold (a 404, as for any unknown id).

PostgreSQL stores no NUL in text, so a NUL that reached a query parameter or a saved field would turn a
bad request into a 500 there (SQLite would quietly keep it). No page, portal or UIS field needs one.
The UIS hook checks its own bodies (it journals what it refuses) and is left to do so.
"""
from __future__ import annotations

from flask import Flask, abort, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(pairs) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


class DatabaseId(IntegerConverter):
    """`<int:…>` in our routes: 0 … 2**31-1, PostgreSQL's integer; a larger number matches no route."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered: their rules pick the `int` converter up then."""
    app.url_map.converters["int"] = DatabaseId
    @app.before_request
    def _refuse_nul():
        if request.path.startswith("/hooks/"):
            return None
        if "\x00" in request.path or _has_nul(request.args.items(multi=True)):
            abort(400, description=_("Запрос содержит нулевой символ (NUL) — такие запросы не принимаются."))
        if request.method in ("POST", "PUT", "PATCH") and request.is_json:
            # Only the hook takes JSON; Flask-WTF would read a JSON body as form data (and choke on a list).
            abort(415, description=_("Здесь принимаются только формы, а не JSON."))
        # Parsing the form here raises 413 for a body over MAX_CONTENT_LENGTH, inside Flask's error handling.
        if (request.method in ("POST", "PUT", "PATCH") and request.mimetype in FORM_TYPES
                and _has_nul(request.form.items(multi=True))):
            abort(400, description=_("Запрос содержит нулевой символ (NUL) — такие запросы не принимаются."))
        return None
