"""Placeholder blueprint, filled in by the issue that owns it."""
from flask import Blueprint

bp = Blueprint("hooks", __name__)
