"""Flask CLI commands of the app (run through `flask --app wsgi ...`)."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    pass
