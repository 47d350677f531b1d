"""Placeholder blueprint, filled in by the issue that owns it."""
from flask import Blueprint

bp = Blueprint("settings", __name__)
